// Concurrent editors of the same ServiceAccounts: five writers add and remove entries of their own
// (read, modify, write with the resourceVersion as precondition, retry on 409, as a real controller
// does) CHAOS_EDITS times each, while the operator adds its entry to every ServiceAccount, a drift
// actor keeps removing that entry, and a second RegistryCredential comes and goes (adding and then
// removing its own entry). At the end no writer's entry is lost or resurrected and ours is there once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConflict, RESOURCES } from '../../src/kube/client.ts';
import type { ServiceAccount } from '../../src/kube/objects.ts';
import { CHAOS } from '../support/chaos-config.ts';
import { ChaosEnv, registries, REGISTRY, sleep, USER } from '../support/chaos-env.ts';
import type { Rng } from '../support/chaos-random.ts';
import { converge, prefixScope } from '../support/invariants.ts';

const WRITERS = 5;

let env: ChaosEnv;
let password: string;
let nss: string[];
let sas: Array<[string, string]>;

beforeAll(async () => {
  env = await ChaosEnv.start('editors', 'ed');
  await env.s.setup();
  password = env.s.password(USER);
  await env.s.sourceSecret('pw', { password });
  nss = await env.namespaces(['a', 'b', 'c', 'd']);
  await env.serviceAccountsExist(nss);
  for (const ns of nss) await env.client.create(RESOURCES.serviceAccounts, ns, { metadata: { name: 'builder' } });
  sas = nss.flatMap((ns) => [[ns, 'default'], [ns, 'builder']] as Array<[string, string]>);
  for (const [ns, sa] of sas) await edit(ns, sa, () => [{ name: 'pre-existing' }]);
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

/** Read-modify-write with the resourceVersion as precondition; retried from a fresh read on 409. */
async function edit(ns: string, name: string, change: (list: Array<{ name?: string }>) => Array<{ name?: string }> | undefined): Promise<number> {
  for (let conflicts = 0; ; conflicts++) {
    const sa = await env.client.get<ServiceAccount>(RESOURCES.serviceAccounts, ns, name);
    const next = change(sa.imagePullSecrets ?? []);
    if (!next) return conflicts;
    try {
      await env.client.patch(RESOURCES.serviceAccounts, ns, name, { metadata: { resourceVersion: sa.metadata.resourceVersion }, imagePullSecrets: next });
      return conflicts;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

interface Writer {
  present: Map<string, Set<string>>;
  removed: Map<string, Set<string>>;
  conflicts: number;
}

/** Edits done by all writers so far, so the other actors can time themselves on the writers' progress. */
let progress = 0;

async function runWriter(w: number, rng: Rng, ops: number): Promise<Writer> {
  const me: Writer = { present: new Map(), removed: new Map(), conflicts: 0 };
  let seq = 0;
  for (let i = 0; i < ops; i++, progress++) {
    const [ns, sa] = rng.pick(sas);
    const key = `${ns}/${sa}`;
    const mine = me.present.get(key) ?? new Set<string>();
    me.present.set(key, mine);
    if (mine.size === 0 || (mine.size < 4 && rng.chance(0.55))) {
      const entry = `w${w}-${seq++}`;
      me.conflicts += await edit(ns, sa, (list) => [...list, { name: entry }]);
      mine.add(entry);
    } else {
      const entry = rng.pick([...mine]);
      me.conflicts += await edit(ns, sa, (list) => list.filter((e) => e.name !== entry));
      mine.delete(entry);
      if (!me.removed.has(key)) me.removed.set(key, new Set());
      me.removed.get(key)!.add(entry);
    }
  }
  return me;
}

describe(`concurrent editors (${WRITERS} writers × ${CHAOS.edits} edits)`, () => {
  it('loses no writer entry, resurrects none, and keeps ours exactly once', async () => {
    env.report.round();
    const name = `${env.s.id}-rc`;
    const other = `${env.s.id}-other`;
    const scope = `${env.s.id}-*`;
    const total = WRITERS * CHAOS.edits;
    await env.s.credential(name, { secretName: 'pull', registries, namespaces: { include: [scope] }, serviceAccounts: { names: ['*'] } });
    let finished = false;
    const writers = Promise.all(Array.from({ length: WRITERS }, (_, w) => runWriter(w, env.rng(`writer-${w}`), CHAOS.edits))).finally(() => (finished = true));
    env.report.fault(`${WRITERS} concurrent writers × ${CHAOS.edits} edits, with drift and a second credential coming and going`);

    // Drift: our entry keeps disappearing under the operator while the writers work.
    const drift = env.rng('drift');
    let drifted = 0;
    const drifter = (async () => {
      while (!finished) {
        const [ns, sa] = drift.pick(sas);
        let removed = false;
        await edit(ns, sa, (list) => {
          removed = list.some((e) => e.name === 'pull');
          return removed ? list.filter((e) => e.name !== 'pull') : undefined;
        });
        if (removed) drifted++;
        await sleep(100);
      }
    })();
    // A second credential adds its entry to every ServiceAccount a third of the way in and removes it
    // (deletionPolicy Delete) two thirds of the way in.
    const comeAndGo = (async () => {
      while (progress < total / 3 && !finished) await sleep(20);
      await env.s.credential(other, { secretName: 'pull-b', registries, namespaces: { include: [scope] }, serviceAccounts: { names: ['*'] } });
      while (progress < (2 * total) / 3 && !finished) await sleep(20);
      await env.client.delete(RESOURCES.registryCredentials, undefined, other);
    })();
    const [results] = await Promise.all([writers, drifter, comeAndGo]);
    const conflicts = results.reduce((n, r) => n + r.conflicts, 0);
    env.report.note(`${WRITERS * CHAOS.edits} edits done with ${conflicts} conflicts retried; ${drifted} drift removals of our entry`);

    const foreignEntries: Record<string, string[]> = {};
    const absentEntries: Record<string, string[]> = {};
    for (const [ns, sa] of sas) {
      const key = `${ns}/${sa}`;
      foreignEntries[key] = ['pre-existing', ...results.flatMap((r) => [...(r.present.get(key) ?? [])])];
      absentEntries[key] = results.flatMap((r) => [...(r.removed.get(key) ?? [])]);
    }
    const c = await converge(env.client, {
      credentials: [{ name, secretName: 'pull', namespaces: nss, serviceAccounts: '*', auths: { [REGISTRY]: { username: USER, password } } }],
      deleted: [{ name: other, secretName: 'pull-b', deletionPolicy: 'Delete' }],
      inScope: prefixScope(env.s.id),
      foreignEntries,
      absentEntries,
    }, { timeoutMs: 120_000 });
    if (c.violations.length === 0) env.report.recovered(c.seconds);
    env.report.note(`${c.violations.length ? 'NOT converged' : 'converged'} ${c.seconds.toFixed(1)} s after the writers finished`);
    expect(env.report.violations('concurrent editors', c.violations)).toEqual([]);
  }, 1_200_000);
});
