// A 429 storm: an HTTPS proxy in front of kube-apiserver answers every new request of the operator
// with 429 and Retry-After: 1 for STORM_S seconds while a rotation and new namespaces wait. The
// operator runs with --kube-api-qps 5 --kube-api-burst 10; the bound, counted by the proxy itself
// (every request the operator sends, including watch and list requests), is
//   requests during the storm <= burst + qps * storm seconds + WATCH_SLACK
// and after the storm it must converge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartRounds } from '../support/chaos-config.ts';
import { ChaosEnv, sleep } from '../support/chaos-env.ts';
import { ThrottleProxy } from '../support/chaos-throttle.ts';
import { converge, prefixScope, type Expectation } from '../support/invariants.ts';

const QPS = 5;
const BURST = 10;
const STORM_S = 15;
/** Watches the informers may re-open during the storm (they are not behind the client's rate limiter). */
const WATCH_SLACK = 10;
const BOUND = BURST + QPS * STORM_S + WATCH_SLACK;
const REGISTRY = 'registry.acme.io';
const USER = 'registry-user';
const SECRET = 'storm-pull';
const registries = [{ server: REGISTRY, username: USER, passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

let env: ChaosEnv;
let proxy: ThrottleProxy;
let password: string;
const nss: string[] = [];
const name = () => `${env.s.id}-rc`;

beforeAll(async () => {
  env = await ChaosEnv.start('throttle', 'thr');
  proxy = await ThrottleProxy.start(env.cp.server, env.cp.pkiDir, env.cp.kubeconfigPath);
  env.s.operatorKubeconfig = env.kubeconfigVia(proxy.url, 'via-throttle');
  await env.s.setup(['--kube-api-qps', String(QPS), '--kube-api-burst', String(BURST)]);
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss.push(...(await env.namespaces(Array.from({ length: 20 }, (_, i) => `n${i}`))));
  await env.serviceAccountsExist(nss);
  await env.s.credential(name(), { secretName: SECRET, registries, namespaces: { include: [`${env.s.id}-*`] } });
  const c = await converge(env.client, expectation(), { timeoutMs: 120_000 });
  expect(c.violations).toEqual([]);
}, 300_000);

afterAll(async () => {
  proxy?.stopStorm();
  await env?.stop();
  await proxy?.stop();
});

function expectation(): Expectation {
  return { credentials: [{ name: name(), secretName: SECRET, namespaces: [...nss], auths: { [REGISTRY]: { username: USER, password } } }], inScope: prefixScope(env.s.id) };
}

describe(`429 storm (${restartRounds()} storms of ${STORM_S} s, bound ${BOUND} requests each)`, () => {
  for (let round = 1; round <= restartRounds(); round++) {
    it(`storm ${round}: at most ${BOUND} requests reach the proxy during it, and it converges after`, async () => {
      env.report.round();
      const metricBefore = await env.metric('regcred_api_requests_total');
      const from = Date.now();
      proxy.startStorm(1);
      env.report.fault(`429 storm of ${STORM_S} s (storm ${round})`);
      // Work that the storm holds back: a rotation and three new namespaces.
      password = env.s.password(USER);
      await env.s.updateSourceSecret('pw', { password });
      nss.push(...(await env.namespaces([0, 1, 2].map((i) => `storm${round}-${i}`))));
      await sleep(from + STORM_S * 1000 - Date.now());
      const to = Date.now();
      proxy.stopStorm();

      const seen = proxy.between(from, to);
      const perSecond = new Map<number, number>();
      for (const r of seen) perSecond.set(Math.floor((r.at - from) / 1000), (perSecond.get(Math.floor((r.at - from) / 1000)) ?? 0) + 1);
      const peak = Math.max(0, ...perSecond.values());
      const metricDelta = (await env.metric('regcred_api_requests_total')) - metricBefore;
      env.report.note(`storm ${round}: ${seen.length} requests in ${((to - from) / 1000).toFixed(1)} s (peak ${peak}/s; the operator's regcred_api_requests_total grew by ${metricDelta}), bound ${BOUND}`);
      const violations: string[] = [];
      if (seen.length > BOUND) violations.push(`${seen.length} requests during a ${STORM_S} s storm, bound ${BOUND} (burst ${BURST} + qps ${QPS} × ${STORM_S} s + ${WATCH_SLACK})`);

      await env.serviceAccountsExist(nss);
      const c = await converge(env.client, expectation(), { timeoutMs: 120_000 });
      if (c.violations.length === 0) env.report.recovered(c.seconds);
      env.report.note(`storm ${round}: ${c.violations.length ? 'NOT converged' : 'converged'} ${c.seconds.toFixed(1)} s after it ended`);
      violations.push(...c.violations);
      if (env.s.operator!.exited) violations.push('the operator exited');
      expect(env.report.violations(`storm ${round}`, violations)).toEqual([]);
    }, 300_000);
  }
});
