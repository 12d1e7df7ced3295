// kube-apiserver, and separately etcd, killed and restarted in the middle of a fan-out. The operator
// is not restarted: it must recover its watches and writes by itself and converge within 30 s of the
// API server being ready again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { CHAOS, restartRounds } from '../support/chaos-config.ts';
import { ChaosEnv, registries, REGISTRY, sleep, USER } from '../support/chaos-env.ts';
import type { Rng } from '../support/chaos-random.ts';
import { converge, prefixScope, type Expectation } from '../support/invariants.ts';

/** The bound the brief sets: converged within this long after the API server is back. */
const RECOVERY_BOUND_S = 30;

let env: ChaosEnv;
let rng: Rng;
let nss: string[];
let password: string;

beforeAll(async () => {
  env = await ChaosEnv.start('restarts', 'rst');
  rng = env.rng('restarts');
  // One Secret name per round: api-1…, etcd-1….
  const names = Array.from({ length: restartRounds() }, (_, i) => [`api-${i + 1}`, `etcd-${i + 1}`]).flat();
  await env.s.setup(['--allowed-secret-names', names.join(',')]);
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss = await env.namespaces(Array.from({ length: CHAOS.namespaces }, (_, i) => `n${i}`));
  await env.serviceAccountsExist(nss);
}, 900_000);

afterAll(async () => {
  await env?.stop();
});

const scope = () => prefixScope(env.s.id);
const live = (name: string, secretName: string): Expectation => ({
  credentials: [{ name, secretName, namespaces: nss, auths: { [REGISTRY]: { username: USER, password } } }],
  inScope: scope(),
});

const kinds = [
  { kind: 'kube-apiserver', restart: () => env.cp.restartApiServer() },
  { kind: 'etcd', restart: () => env.cp.restartEtcd() },
] as const;

describe(`control plane restarts mid fan-out (${restartRounds()} of each, ${CHAOS.namespaces} namespaces)`, () => {
  for (const { kind, restart } of kinds) {
    for (let round = 1; round <= restartRounds(); round++) {
      it(`${kind} restart ${round}: the operator recovers without restarting and converges within ${RECOVERY_BOUND_S} s`, async () => {
        env.report.round();
        const op = env.s.operator!;
        const pid = op.child.pid;
        const secretName = `${kind === 'etcd' ? 'etcd' : 'api'}-${round}`;
        const name = `${env.s.id}-${secretName}`;
        await env.s.credential(name, { secretName, registries, namespaces: { include: [`${env.s.id}-n*`] } });

        // Into the fan-out: a seeded share of the Secrets is there before the kill.
        const target = Math.max(1, Math.floor(rng.between(0.05, 0.5) * nss.length));
        const deadline = Date.now() + 120_000;
        let done = (await env.managedOf(name)).length;
        while (done < target && Date.now() < deadline) {
          await sleep(50);
          done = (await env.managedOf(name)).length;
        }
        await restart();
        const back = Date.now();
        env.report.fault(`${kind} SIGKILL + restart at ${done}/${nss.length} Secrets`);

        const c = await converge(env.client, live(name, secretName), { timeoutMs: RECOVERY_BOUND_S * 1000 });
        const violations = [...c.violations];
        if (violations.length) {
          // Not within the bound: how long does it take at all? (For the report; it stays a violation.)
          const late = await converge(env.client, live(name, secretName), { timeoutMs: 120_000 });
          env.report.note(`${kind} restart ${round}: ${late.violations.length ? 'not converged after another 120 s' : `converged ${((Date.now() - back) / 1000).toFixed(1)} s after the API server was back`}`);
          violations.unshift(`not converged within ${RECOVERY_BOUND_S} s of the API server being back`);
        } else {
          env.report.recovered(c.seconds);
          env.report.note(`${kind} restart ${round}: converged ${c.seconds.toFixed(1)} s after the API server was back`);
        }
        if (op.exited || env.s.operator !== op || op.child.pid !== pid) violations.push(`the operator exited (${op.child.exitCode ?? op.child.signalCode}); it must recover without a restart`);
        expect(env.report.violations(`${kind} restart ${round}`, violations)).toEqual([]);

        // Leave the next round a clean slate.
        await env.client.delete(RESOURCES.registryCredentials, undefined, name);
        const cleaned = await converge(env.client, { credentials: [], deleted: [{ name, secretName, deletionPolicy: 'Delete' }], inScope: scope() }, { timeoutMs: 120_000 });
        expect(env.report.violations(`${kind} restart ${round} cleanup`, cleaned.violations)).toEqual([]);
      }, 600_000);
    }
  }
});
