// SIGKILL of the operator at seeded random points: during a fan-out over CHAOS_NAMESPACES
// namespaces, during a rotation (the source Secret's password changes), and during the cleanup of a
// deleted RegistryCredential. Each kill is followed by a restart and the invariant checker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { CHAOS } from '../support/chaos-config.ts';
import { ChaosEnv, registries, REGISTRY, sleep, USER } from '../support/chaos-env.ts';
import type { Rng } from '../support/chaos-random.ts';
import { converge, prefixScope, type Expectation } from '../support/invariants.ts';

const SECRET = 'pull';

let env: ChaosEnv;
let rng: Rng;
let nss: string[];
let conflictNs: string;
let password: string;
const unmanaged: Record<string, string> = {};

beforeAll(async () => {
  env = await ChaosEnv.start('kill', 'kill');
  rng = env.rng('kill');
  await env.s.setup();
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss = await env.namespaces(Array.from({ length: CHAOS.namespaces }, (_, i) => `n${i}`));
  [conflictNs] = await env.namespaces(['conflict']) as [string];
  await env.serviceAccountsExist([...nss, conflictNs]);
  // Secrets the operator must never touch: unrelated ones, and one holding our Secret name.
  for (const ns of nss.slice(0, 5)) {
    const s = await env.client.create<Secret>(RESOURCES.secrets, ns, { metadata: { name: 'app-config' }, data: { k: 'dg==' } });
    unmanaged[`${ns}/app-config`] = s.metadata.resourceVersion!;
  }
  const squatter = await env.client.create<Secret>(RESOURCES.secrets, conflictNs, { metadata: { name: SECRET }, data: { k: 'dg==' } });
  unmanaged[`${conflictNs}/${SECRET}`] = squatter.metadata.resourceVersion!;
}, 900_000);

afterAll(async () => {
  await env?.stop();
});

const live = (name: string): Expectation => ({
  credentials: [{ name, secretName: SECRET, namespaces: nss, conflicted: [conflictNs], auths: { [REGISTRY]: { username: USER, password } } }],
  inScope: prefixScope(env.s.id),
  unmanagedSecrets: unmanaged,
});
const gone = (name: string): Expectation => ({
  credentials: [],
  deleted: [{ name, secretName: SECRET, deletionPolicy: 'Delete' }],
  inScope: prefixScope(env.s.id),
  unmanagedSecrets: unmanaged,
});

/**
 * Waits until `progress()` reaches a seeded fraction of `total` (or the phase ends), then SIGKILLs
 * the operator; returns where the kill landed.
 */
async function killAt(phase: string, progress: () => Promise<number>, total: number): Promise<string> {
  const fraction = rng.between(0.05, 0.95);
  const deadline = Date.now() + 120_000;
  let done = await progress();
  while (done < fraction * total && Date.now() < deadline) {
    await sleep(50);
    done = await progress();
  }
  await env.stopOperator('SIGKILL');
  env.report.fault(`SIGKILL during ${phase} at ${done}/${total} (aimed at ${(fraction * 100).toFixed(0)}%)`);
  return `${done}/${total}`;
}

/** Restarts the operator and runs the checker until it holds; returns the violations left. */
async function recover(where: string, expectation: Expectation): Promise<string[]> {
  const started = Date.now();
  await env.s.startOperator();
  const c = await converge(env.client, expectation, { timeoutMs: 240_000 });
  const seconds = (Date.now() - started) / 1000;
  if (c.violations.length === 0) env.report.recovered(seconds);
  env.report.note(`${where}: ${c.violations.length ? 'NOT converged' : 'converged'} ${seconds.toFixed(1)} s after the restart`);
  return env.report.violations(where, c.violations);
}

/** A round that failed half-way leaves its RegistryCredential behind; the next one starts clean. */
async function removeLeftovers(): Promise<void> {
  const left = (await env.client.list<{ metadata: { name: string } }>(RESOURCES.registryCredentials)).items.map((r) => r.metadata.name);
  for (const name of left) await env.client.delete(RESOURCES.registryCredentials, undefined, name).catch(() => undefined);
  for (const name of left) await converge(env.client, gone(name), { timeoutMs: 120_000 });
}

describe(`SIGKILL at random points (${CHAOS.rounds} rounds, ${CHAOS.namespaces} namespaces)`, () => {
  for (let round = 1; round <= CHAOS.rounds; round++) {
    it(`round ${round}: kill during fan-out, rotation and cleanup; converge after each`, async () => {
      env.report.round();
      if (!env.s.operator) await env.s.startOperator();
      await removeLeftovers();
      const name = `${env.s.id}-r${round}`;
      const total = nss.length;

      // Fan-out.
      await env.s.credential(name, { secretName: SECRET, registries, namespaces: { include: [`${env.s.id}-*`] } });
      await killAt(`round ${round} fan-out`, async () => (await env.managedOf(name)).length, total);
      expect(await recover(`round ${round} fan-out`, live(name))).toEqual([]);

      // Rotation.
      const oldHash = (await env.managedOf(name))[0]?.metadata.annotations?.['regcred.dev/credential-hash'];
      password = env.s.password(USER);
      await env.s.updateSourceSecret('pw', { password });
      await killAt(`round ${round} rotation`, async () => (await env.managedOf(name)).filter((s) => s.metadata.annotations?.['regcred.dev/credential-hash'] !== oldHash).length, total);
      expect(await recover(`round ${round} rotation`, live(name))).toEqual([]);

      // Cleanup of the deleted RegistryCredential (deletionPolicy Delete).
      await env.client.delete(RESOURCES.registryCredentials, undefined, name);
      await killAt(`round ${round} cleanup`, async () => total - (await env.managedOf(name)).length, total);
      expect(await recover(`round ${round} cleanup`, gone(name))).toEqual([]);
    }, 1_200_000);
  }
});
