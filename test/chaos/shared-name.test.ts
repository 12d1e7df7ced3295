// Two RegistryCredentials that want the same Secret name in the same namespaces. The older one
// starts broken (its source Secret lacks the key), so the younger one serves; then the older one is
// fixed (whichever the operator then lets hold each namespace, exactly one does, with its own bytes,
// and the other reports the conflict), then deleted (the younger one holds every namespace). A watcher
// (list+watch of the Secrets of that name and of the ServiceAccounts) records every moment after
// the first convergence at which a namespace lacks the Secret or a selected ServiceAccount lacks
// the entry: there must be none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { ChaosEnv, sleep } from '../support/chaos-env.ts';
import { GapWatcher } from '../support/chaos-gaps.ts';
import { converge, prefixScope, type CredentialExpectation, type Expectation } from '../support/invariants.ts';

const SECRET = 'shared';
const SAS = ['default', 'builder'];
const REGISTRY_A = 'a.acme.io';
const REGISTRY_B = 'b.acme.io';

let env: ChaosEnv;
let nss: string[];
let watcher: GapWatcher | undefined;
let pwA: string;
let pwB: string;

beforeAll(async () => {
  env = await ChaosEnv.start('shared-name', 'sh');
  await env.s.setup();
  pwA = env.s.password('user-a');
  pwB = env.s.password('user-b');
  await env.s.sourceSecret('a-pw', { wrong: pwA });
  await env.s.sourceSecret('b-pw', { password: pwB });
  nss = await env.namespaces(Array.from({ length: 6 }, (_, i) => `n${i}`));
  await env.serviceAccountsExist(nss);
  for (const ns of nss) await env.client.create(RESOURCES.serviceAccounts, ns, { metadata: { name: 'builder' } });
}, 300_000);

afterAll(async () => {
  watcher?.stop();
  await env?.stop();
});

describe('two RegistryCredentials sharing a secretName: older broken, fixed, deleted', () => {
  it('never leaves a namespace without the Secret or a ServiceAccount without the entry', async () => {
    env.report.round();
    const a = `${env.s.id}-a`;
    const b = `${env.s.id}-b`;
    const common = { secretName: SECRET, namespaces: { include: [`${env.s.id}-n*`] }, serviceAccounts: { names: SAS } };
    const of = (name: string, namespaces: string[], conflicted: string[], auths: CredentialExpectation['auths'], status?: 'skip'): CredentialExpectation =>
      ({ name, secretName: SECRET, namespaces, conflicted, serviceAccounts: SAS, auths, ...(status ? { status } : {}) });
    const authsA = { [REGISTRY_A]: { username: 'user-a', password: pwA } };
    const authsB = { [REGISTRY_B]: { username: 'user-b', password: pwB } };
    const scope = prefixScope(env.s.id);

    await env.s.credential(a, { ...common, registries: [{ server: REGISTRY_A, username: 'user-a', passwordFrom: { secretKeyRef: { name: 'a-pw', key: 'password' } } }] });
    await sleep(1100); // creationTimestamp has whole seconds: make A strictly older
    await env.s.credential(b, { ...common, registries: [{ server: REGISTRY_B, username: 'user-b', passwordFrom: { secretKeyRef: { name: 'b-pw', key: 'password' } } }] });

    // 1. A broken (SourceNotFound), so B serves every namespace.
    // After the fix, the holder of each namespace is read from the Secret's label: the operator may
    // keep the current holder or hand over to the older one, but exactly one must hold it, fully.
    const heldBy = async () => {
      const held = new Map<string, string | undefined>();
      for (const ns of nss) {
        const s = await env.client.get<{ metadata: { labels?: Record<string, string> } }>(RESOURCES.secrets, ns, SECRET).catch(() => undefined);
        held.set(ns, s?.metadata.labels?.['regcred.dev/credential']);
      }
      return held;
    };
    const afterFix = async (): Promise<Expectation> => {
      const held = await heldBy();
      const ofB = nss.filter((ns) => held.get(ns) === b);
      const ofA = nss.filter((ns) => !ofB.includes(ns));
      return { credentials: [of(a, ofA, ofB, authsA), of(b, ofB, ofA, authsB)], inScope: scope };
    };
    const phases: Array<[string, Expectation | (() => Promise<Expectation>)]> = [
      ['A broken, B serves', { credentials: [of(a, [], [], authsA, 'skip'), of(b, nss, [], authsB)], inScope: scope }],
      ['A fixed, one holder per namespace', afterFix],
      ['A deleted, B serves again', { credentials: [of(b, nss, [], authsB)], deleted: [{ name: a, secretName: SECRET, deletionPolicy: 'Delete' }], inScope: scope }],
    ];
    const first = await converge(env.client, phases[0]![1], { timeoutMs: 90_000 });
    const ready = await env.s.getCredential(a);
    env.report.note(`A while broken: ${JSON.stringify(ready.status?.conditions?.find((c) => c.type === 'Ready')?.reason)}`);
    expect(env.report.violations(phases[0]![0], first.violations)).toEqual([]);

    watcher = await GapWatcher.start(env.client, { secretName: SECRET, namespaces: nss, serviceAccounts: SAS });
    expect(watcher.missing()).toEqual([]);
    watcher.arm();

    // 2. Fix A: the older one takes the Secret over in place.
    env.report.fault('older credential fixed');
    await env.client.patch(RESOURCES.secrets, env.s.credentialsNamespace, 'a-pw', { data: { password: Buffer.from(pwA).toString('base64') } });
    const second = await converge(env.client, phases[1]![1], { timeoutMs: 90_000 });
    if (!second.violations.length) env.report.recovered(second.seconds);
    const holders = [...(await heldBy()).values()].map((h) => (h === a ? 'A' : h === b ? 'B' : String(h)));
    env.report.note(`${phases[1]![0]}: ${second.violations.length ? 'NOT converged' : 'converged'} in ${second.seconds.toFixed(1)} s; holders ${holders.join(',')}`);
    const v2 = env.report.violations(phases[1]![0], second.violations);

    // 3. Delete A (deletionPolicy Delete): B takes it back without the namespace ever lacking it.
    env.report.fault('older credential deleted');
    await env.client.delete(RESOURCES.registryCredentials, undefined, a);
    const third = await converge(env.client, phases[2]![1], { timeoutMs: 90_000 });
    if (!third.violations.length) env.report.recovered(third.seconds);
    env.report.note(`${phases[2]![0]}: ${third.violations.length ? 'NOT converged' : 'converged'} in ${third.seconds.toFixed(1)} s`);
    const v3 = env.report.violations(phases[2]![0], third.violations);

    await sleep(1000);
    const gaps = watcher.gaps.map((g) => `gap at ${g.at} in ${g.namespace}: ${g.what}`);
    env.report.note(`${gaps.length} gaps seen by the watcher (${watcher.watchErrors} watch restarts)`);
    const v4 = env.report.violations('gap watcher', gaps);
    expect([...v2, ...v3, ...v4]).toEqual([]);
  }, 600_000);
});
