// A half-open connection: the loopback proxy between the operator and the API server goes silent
// without closing anything. Every watch must notice within --watch-inactivity-timeout (counted by
// regcred_informer_restarts_total, read over the metrics port, which does not go through the proxy), and
// a change made while the stall lasts (a rotation and a new namespace) must be applied after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartRounds } from '../support/chaos-config.ts';
import { ChaosEnv, sleep } from '../support/chaos-env.ts';
import { FreezableProxy } from '../support/proxy.ts';
import { converge, prefixScope, type Expectation } from '../support/invariants.ts';

const INACTIVITY_S = 3;
/** Detection is judged on metrics polled every 200 ms: that much is added to the bound. */
const DETECTION_SLACK_S = 1;
const STALL_S = 3 * INACTIVITY_S;
const REGISTRY = 'registry.acme.io';
const USER = 'registry-user';
const SECRET = 'ho-pull';
const registries = [{ server: REGISTRY, username: USER, passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

let env: ChaosEnv;
let proxy: FreezableProxy;
let password: string;
const nss: string[] = [];
const name = () => `${env.s.id}-rc`;

beforeAll(async () => {
  env = await ChaosEnv.start('half-open', 'ho');
  proxy = await FreezableProxy.start(env.cp.server);
  env.s.operatorKubeconfig = env.kubeconfigVia(`https://127.0.0.1:${proxy.port}`, 'via-proxy');
  await env.s.setup(['--watch-inactivity-timeout', `${INACTIVITY_S}s`, '--watch-stale-limit', `${STALL_S * 3}s`]);
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss.push(...(await env.namespaces(['a', 'b', 'c'])));
  await env.serviceAccountsExist(nss);
  await env.s.credential(name(), { secretName: SECRET, registries, namespaces: { include: [`${env.s.id}-*`] } });
  const c = await converge(env.client, expectation(), { timeoutMs: 60_000 });
  expect(c.violations).toEqual([]);
}, 300_000);

afterAll(async () => {
  proxy?.thaw();
  await env?.stop();
  await proxy?.stop();
});

function expectation(): Expectation {
  return { credentials: [{ name: name(), secretName: SECRET, namespaces: [...nss], auths: { [REGISTRY]: { username: USER, password } } }], inScope: prefixScope(env.s.id) };
}

describe(`half-open watch through the proxy (${restartRounds()} stalls)`, () => {
  for (let round = 1; round <= restartRounds(); round++) {
    it(`stall ${round}: every watch notices within ${INACTIVITY_S} s (+${DETECTION_SLACK_S} s polling), and the change made meanwhile lands`, async () => {
      env.report.round();
      const before = await env.metricSeries('regcred_informer_restarts_total');
      const informers = [...before.keys()];
      expect(informers.length).toBeGreaterThan(0);

      const frozenAt = Date.now();
      proxy.freeze();
      env.report.fault(`proxy frozen for ${STALL_S} s (stall ${round})`);
      // The change, made straight at the API server while the operator's connections are silent.
      password = env.s.password(USER);
      await env.s.updateSourceSecret('pw', { password });
      nss.push(...(await env.namespaces([`stall-${round}`])));

      const detectedAfter = new Map<string, number>();
      while (Date.now() - frozenAt < STALL_S * 1000) {
        const now = await env.metricSeries('regcred_informer_restarts_total');
        for (const informer of informers) {
          if (!detectedAfter.has(informer) && (now.get(informer) ?? 0) > (before.get(informer) ?? 0)) detectedAfter.set(informer, (Date.now() - frozenAt) / 1000);
        }
        await sleep(200);
      }
      const violations: string[] = [];
      for (const informer of informers) {
        const s = detectedAfter.get(informer);
        if (s === undefined) violations.push(`informer ${informer}: stall not detected within ${STALL_S} s`);
        else if (s > INACTIVITY_S + DETECTION_SLACK_S) violations.push(`informer ${informer}: stall detected after ${s.toFixed(1)} s, bound ${INACTIVITY_S + DETECTION_SLACK_S} s`);
      }
      env.report.note(`stall ${round}: detected after ${[...detectedAfter.values()].map((s) => s.toFixed(1)).join(', ')} s (${detectedAfter.size}/${informers.length} informers)`);

      proxy.thaw();
      await env.serviceAccountsExist(nss);
      const c = await converge(env.client, expectation(), { timeoutMs: 90_000 });
      if (c.violations.length === 0) env.report.recovered(c.seconds);
      env.report.note(`stall ${round}: ${c.violations.length ? 'NOT converged' : 'converged'} ${c.seconds.toFixed(1)} s after the thaw`);
      violations.push(...c.violations);
      if (env.s.operator!.exited) violations.push('the operator exited');
      expect(env.report.violations(`stall ${round}`, violations)).toEqual([]);
    }, 300_000);
  }
});
