// Mass deletion under deletionPolicy Retain: CHAOS_MASS RegistryCredentials deleted at once must
// leave every Secret (and entry) where it is, also after the garbage collector has had time to act;
// then the CRD itself is deleted (which deletes every RegistryCredential) and installed again: still
// no namespace loses its credentials, and the operator picks up a new RegistryCredential after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { CHAOS } from '../support/chaos-config.ts';
import { ChaosEnv, registries, REGISTRY, sleep, USER } from '../support/chaos-env.ts';
import { checkInvariants, converge, prefixScope, type DeletedExpectation, type Expectation } from '../support/invariants.ts';

/** How long the Secrets must stay after the deletions: the garbage collector acts within seconds. */
const STABLE_S = 15;

let env: ChaosEnv;
let password: string;
let nss: string[];

beforeAll(async () => {
  env = await ChaosEnv.start('mass-delete', 'md');
  // One Secret name per credential: m0…, c0… and after.
  const names = [...Array.from({ length: CHAOS.mass }, (_, i) => `m${i}`), ...Array.from({ length: Math.max(2, Math.ceil(CHAOS.mass / 3)) }, (_, i) => `c${i}`), 'after'];
  await env.s.setup(['--allowed-secret-names', names.join(',')]);
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss = await env.namespaces(Array.from({ length: 20 }, (_, i) => `n${i}`));
  await env.serviceAccountsExist(nss);
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

const auths = () => ({ [REGISTRY]: { username: USER, password } });
const scope = () => prefixScope(env.s.id);

async function createAll(prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${env.s.id}-${prefix}${i}`);
  await Promise.all(names.map((name, i) =>
    env.s.credential(name, { secretName: `${prefix}${i}`, registries, namespaces: { include: [`${env.s.id}-n*`] }, deletionPolicy: 'Retain' })));
  const c = await converge(env.client, {
    credentials: names.map((name, i) => ({ name, secretName: `${prefix}${i}`, namespaces: nss, auths: auths(), deletionPolicy: 'Retain' as const })),
    inScope: scope(),
  }, { timeoutMs: 180_000 });
  expect(env.report.violations(`${prefix}: initial convergence`, c.violations)).toEqual([]);
  return names;
}

const retained = (names: string[], prefix: string): DeletedExpectation[] =>
  names.map((name, i) => ({ name, secretName: `${prefix}${i}`, deletionPolicy: 'Retain', retainedIn: nss, auths: auths() }));

/** Checks `expectation` every second for STABLE_S seconds: it must hold every time. */
async function staysTrue(where: string, expectation: Expectation): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i <= STABLE_S; i++) {
    for (const v of await checkInvariants(env.client, expectation)) seen.add(v);
    await sleep(1000);
  }
  return env.report.violations(where, [...seen]);
}

async function gone(names: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left: string[] = names;
  while (Date.now() < deadline) {
    const existing = new Set((await env.client.list<{ metadata: { name: string } }>(RESOURCES.registryCredentials).catch(() => ({ items: [] }))).items.map((r) => r.metadata.name));
    left = names.filter((n) => existing.has(n));
    if (left.length === 0) return [];
    await sleep(500);
  }
  return left;
}

describe(`mass deletion under Retain (${CHAOS.mass} RegistryCredentials × 20 namespaces)`, () => {
  let first: string[] = [];

  it('deleting them all at once leaves every Secret and entry in place', async () => {
    env.report.round();
    first = await createAll('m', CHAOS.mass);
    const started = Date.now();
    await Promise.all(first.map((n) => env.client.delete(RESOURCES.registryCredentials, undefined, n)));
    env.report.fault(`${first.length} RegistryCredentials deleted at once`);
    const left = await gone(first, 180_000);
    expect(env.report.violations('mass delete: finalizers', left.map((n) => `${n} still exists after 180 s`))).toEqual([]);
    env.report.recovered((Date.now() - started) / 1000);
    expect(await staysTrue('mass delete', { credentials: [], deleted: retained(first, 'm'), inScope: scope() })).toEqual([]);
  }, 900_000);

  it('deleting and reinstalling the CRD leaves no namespace without credentials', async () => {
    env.report.round();
    const count = Math.max(2, Math.ceil(CHAOS.mass / 3));
    const second = await createAll('c', count);
    env.kubectl('delete', 'crd', 'registrycredentials.regcred.dev', '--wait=false');
    env.report.fault(`CRD deleted with ${count} RegistryCredentials in it`);
    const deadline = Date.now() + 180_000;
    let crdGone = false;
    while (!crdGone && Date.now() < deadline) {
      crdGone = !env.kubectl('get', 'crd', '-o', 'name').includes('registrycredentials.regcred.dev');
      if (!crdGone) await sleep(500);
    }
    if (!crdGone) {
      env.kubectl('patch', 'crd', 'registrycredentials.regcred.dev', '--type=merge', '-p', '{"metadata":{"finalizers":null}}');
    }
    expect(env.report.violations('CRD delete', crdGone ? [] : ['the CRD was not gone 180 s after its deletion (its RegistryCredentials kept their finalizers)'])).toEqual([]);

    const all = [...retained(first, 'm'), ...retained(second, 'c')];
    // Without the CRD there is no RegistryCredential to look up: only the Secrets and entries are judged.
    expect(await staysTrue('CRD deleted', { credentials: [], deleted: all, inScope: scope() })).toEqual([]);

    env.installCrd();
    const reinstalled = Date.now();
    const after = `${env.s.id}-after`;
    await env.s.credential(after, { secretName: 'after', registries, namespaces: { include: [`${env.s.id}-n*`] } });
    const c = await converge(env.client, {
      credentials: [{ name: after, secretName: 'after', namespaces: nss, auths: auths() }],
      deleted: all,
      inScope: scope(),
    }, { timeoutMs: 120_000 });
    if (!c.violations.length) env.report.recovered((Date.now() - reinstalled) / 1000);
    env.report.note(`after the CRD came back: ${c.violations.length ? 'NOT converged' : 'converged'} in ${((Date.now() - reinstalled) / 1000).toFixed(1)} s`);
    expect(env.report.violations('CRD reinstalled', c.violations)).toEqual([]);
    if (env.s.operator!.exited) expect.fail('the operator exited');
  }, 900_000);
});
