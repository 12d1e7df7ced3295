// Hostile input, generated with fast-check from the run's seed: RegistryCredential specs and source
// Secrets (huge, unicode, wrong types, empty, 1 MiB values, invalid base64, dockercfg of the wrong
// shape, Secrets that did not opt in or may only be read by others, types never read as sources).
// Straight into the runtime validators, none may throw; through the real API server (which
// rejects many, counted), the operator must stay up, never hot-loop, and give every accepted object
// a Ready condition with a known reason and a message. A well-formed control credential keeps
// working throughout.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/schema.ts';
import { parseDockerConfigSecret } from '../../src/controller/dockerconfig.ts';
import { resolveEntries } from '../../src/controller/sources.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import { CHAOS } from '../support/chaos-config.ts';
import { ChaosEnv, sleep } from '../support/chaos-env.ts';
import { hostileSourceSecret, hostileSpec, hostileString, secretObject, secretValues, type GeneratedSecret } from '../support/chaos-hostile.ts';
import { converge, type Expectation } from '../support/invariants.ts';

const BATCH = 100;
/** Reasons a person can act on; anything else is not "clear". */
const REASONS = new Set(['Synced', 'PartiallySynced', 'InvalidSpec', 'SecretNameNotAllowed', 'SourceNotFound', 'InvalidSource', 'SourceNotAllowed']);
const SOURCE_REASONS = ['SourceNotFound', 'InvalidSource', 'SourceNotAllowed'];
/**
 * No hot loop: once a batch's last object is written, no key (live or deleted) is reconciled more
 * than MAX_RECONCILES_AFTER_INPUT times until the end of the quiet window, nor more than
 * MAX_RECONCILES_IN_QUIET_WINDOW times within that window. (While the batch is being written every
 * source Secret write legitimately wakes the objects that read it; that count is only reported.)
 */
const MAX_RECONCILES_AFTER_INPUT = 20;
const QUIET_WINDOW_S = 10;
const MAX_RECONCILES_IN_QUIET_WINDOW = 2;
const RUNTIME_RUNS = Math.max(1000, CHAOS.hostile);

let env: ChaosEnv;
let password: string;
let ctlNs: string;

beforeAll(async () => {
  env = await ChaosEnv.start('hostile', 'hx');
  await env.s.setup();
  password = env.s.password('registry-user');
  await env.s.sourceSecret('ctl-pw', { password });
  [ctlNs] = (await env.namespaces(['ctl'])) as [string];
  await env.namespaces(['t1', 't2']);
  await env.serviceAccountsExist([ctlNs]);
  await env.s.credential(`${env.s.id}-ctl`, {
    secretName: 'ctl-pull',
    registries: [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'ctl-pw', key: 'password' } } }],
    namespaces: { include: [ctlNs] },
  });
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

const control = (): Expectation => ({
  credentials: [{ name: `${env.s.id}-ctl`, secretName: 'ctl-pull', namespaces: [ctlNs], auths: { 'registry.acme.io': { username: 'registry-user', password } } }],
  inScope: (ns) => ns === ctlNs,
});

/** What the operator reads is JSON off the wire: plain objects, no undefined, no null prototypes. */
const wire = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

const fcParams = (salt: number) => ({ seed: (env.seed ^ salt) | 0, numRuns: RUNTIME_RUNS });

describe(`hostile input straight into the runtime validators (${RUNTIME_RUNS} runs each)`, () => {
  it('resolveSpec never throws and only accepts specs with a valid secretName', () => {
    env.report.round();
    let accepted = 0;
    fc.assert(fc.property(hostileSpec('hx-t*'), fc.oneof(fc.constantFrom('ok-name', 'a.b'), hostileString), (spec, name) => {
      const r = resolveSpec(name, wire(spec));
      if (r.ok) {
        accepted++;
        return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(r.spec.secretName) && r.spec.registries.length >= 1;
      }
      return typeof r.message === 'string' && r.message.length > 0;
    }), fcParams(1));
    env.report.note(`resolveSpec: ${accepted}/${RUNTIME_RUNS} generated specs accepted`);
  });

  it('resolveEntries never throws, fails with a known reason, and never puts a secret value in its message', () => {
    let reached = 0;
    const outcomes = new Map<string, number>();
    fc.assert(fc.property(hostileSpec('hx-t*'), fc.array(hostileSourceSecret, { maxLength: 6 }), (rawSpec, rawSecrets) => {
      const spec = wire(rawSpec);
      const secrets = wire(rawSecrets);
      const r = resolveSpec('x', spec);
      if (!r.ok) return true;
      reached++;
      const byName = new Map(secrets.map((s) => [s.name, wire(secretObject(s))]));
      const result = resolveEntries(r.spec.registries, { secret: (n) => byName.get(n), credentialsNamespace: 'creds', credential: 'x' });
      const outcome = result.ok ? 'ok' : result.reason;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (result.ok) return true;
      if (!SOURCE_REASONS.includes(result.reason) || !result.message) return false;
      const specText = JSON.stringify(spec);
      return secrets.flatMap(secretValues).every((value) => specText.includes(value) || !result.message.includes(value));
    }), fcParams(2));
    env.report.note(`resolveEntries: reached by ${reached}/${RUNTIME_RUNS} generated cases (outcomes ${JSON.stringify(Object.fromEntries(outcomes))})`);
  });

  it('parseDockerConfigSecret never throws and yields only well-formed auths', () => {
    fc.assert(fc.property(hostileSourceSecret, fc.oneof(fc.constantFrom('kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg'), hostileString, fc.constant(undefined)), (secret, type) => {
      const r = parseDockerConfigSecret(type ?? secret.type, wire(secret.data));
      if (!r.ok) return r.message.length > 0;
      return Object.values(r.auths).every((a) => typeof a.username === 'string' && typeof a.password === 'string' && a.auth === Buffer.from(`${a.username}:${a.password}`).toString('base64'));
    }), fcParams(3));
  });
});

describe(`hostile input through the API server (${CHAOS.hostile} specs and source Secrets, batches of ${BATCH})`, () => {
  it('the operator stays up, never hot-loops, and marks every accepted object Ready with a clear reason', async () => {
    const counts = { specs: 0, specsAccepted: 0, secrets: 0, secretsAccepted: 0 };
    const rejections = new Map<number, number>();
    const reasons = new Map<string, number>();
    const violations: string[] = [];
    let maxAfterInput = 0;
    let maxDuringBatch = 0;
    const reject = (err: unknown) => {
      const code = err instanceof KubeError ? err.status : -1;
      rejections.set(code, (rejections.get(code) ?? 0) + 1);
      if (code < 400 || code >= 500) env.report.note(`API server answered ${code} to a generated object: ${String(err).slice(0, 200)}`);
    };

    for (let batch = 0; batch * BATCH < CHAOS.hostile; batch++) {
      env.report.round();
      const size = Math.min(BATCH, CHAOS.hostile - batch * BATCH);
      const specs = fc.sample(hostileSpec(`${env.s.id}-t*`), { seed: (env.seed ^ (100 + batch)) | 0, numRuns: size });
      const secrets = fc.sample(hostileSourceSecret, { seed: (env.seed ^ (200 + batch)) | 0, numRuns: size });
      const logOffset = env.s.operator!.logs().length;
      const accepted: string[] = [];
      for (let i = 0; i < size; i++) {
        counts.secrets++;
        if (await upsertSecret(secrets[i]!).then(() => true, (e: unknown) => (reject(e), false))) counts.secretsAccepted++;
        const name = `${env.s.id}-b${batch}-${i}`;
        counts.specs++;
        const spec = specs[i] as { secretName?: unknown } | null;
        // The control credential's Secret name is off limits: a clash would be a conflict, not hostility.
        if (spec && typeof spec === 'object' && spec.secretName === 'ctl-pull') spec.secretName = 'pull';
        try {
          await env.client.create(RESOURCES.registryCredentials, undefined, { metadata: { name }, spec });
          accepted.push(name);
          counts.specsAccepted++;
        } catch (err) {
          reject(err);
        }
      }
      env.report.fault(`batch ${batch}: ${size} generated specs and source Secrets (${accepted.length} specs accepted)`);
      const inputDone = env.s.operator!.logs().length;

      // Every accepted object: a Ready condition for its generation, with a known reason and a message.
      const deadline = Date.now() + 180_000;
      let pending = accepted;
      while (pending.length && Date.now() < deadline) {
        const objects = await Promise.all(pending.map((n) => env.s.getCredential(n).catch(() => undefined)));
        pending = pending.filter((_, i) => {
          const rc = objects[i];
          const ready = rc?.status?.conditions?.find((c) => c.type === 'Ready');
          return !(rc && ready && rc.status?.observedGeneration === rc.metadata.generation);
        });
        if (pending.length) await sleep(1000);
      }
      for (const n of pending) violations.push(`${n}: no Ready condition for its generation within 180 s`);
      for (const n of accepted.filter((x) => !pending.includes(x))) {
        const ready = (await env.s.getCredential(n)).status!.conditions!.find((c) => c.type === 'Ready')!;
        reasons.set(ready.reason, (reasons.get(ready.reason) ?? 0) + 1);
        if (!REASONS.has(ready.reason)) violations.push(`${n}: Ready reason ${JSON.stringify(ready.reason)} is not one of ${[...REASONS].join(', ')}`);
        if (!ready.message?.trim()) violations.push(`${n}: Ready ${ready.reason} has no message`);
      }

      // No hot loop: let the batch settle (up to 30 s), then a quiet window.
      const fmt = (c: { total: number; results: Record<string, number> }) => `${c.total} (${JSON.stringify(c.results)})`;
      let lines = env.reconcilesByKey(inputDone);
      for (let waited = 0; waited < 30; waited += 3) {
        await sleep(3000);
        const now = env.reconcilesByKey(inputDone);
        const moved = [...now].some(([k, c]) => lines.get(k)?.total !== c.total);
        lines = now;
        if (!moved) break;
      }
      const windowStart = env.s.operator!.logs().length;
      await sleep(QUIET_WINDOW_S * 1000);
      for (const [key, c] of env.reconcilesByKey(windowStart)) {
        if (c.total > MAX_RECONCILES_IN_QUIET_WINDOW) violations.push(`${key}: ${fmt(c)} reconciles in a ${QUIET_WINDOW_S} s window after settling (hot loop; bound ${MAX_RECONCILES_IN_QUIET_WINDOW})`);
      }
      for (const [key, c] of env.reconcilesByKey(inputDone)) {
        maxAfterInput = Math.max(maxAfterInput, c.total);
        if (c.total > MAX_RECONCILES_AFTER_INPUT) violations.push(`${key}: ${fmt(c)} reconciles after the batch's input stopped (bound ${MAX_RECONCILES_AFTER_INPUT})`);
      }
      for (const [, c] of env.reconcilesByKey(logOffset)) maxDuringBatch = Math.max(maxDuringBatch, c.total);
      if (env.s.operator!.exited) {
        violations.push(`the operator exited (${env.s.operator!.child.exitCode ?? env.s.operator!.child.signalCode}) in batch ${batch}`);
        break;
      }

      // Delete the batch (its finalizers run) so the next one starts from the control credential alone.
      await Promise.all(accepted.map((n) => env.client.delete(RESOURCES.registryCredentials, undefined, n).catch(() => undefined)));
      const goneBy = Date.now() + 120_000;
      let left = accepted;
      while (left.length && Date.now() < goneBy) {
        const existing = new Set((await env.client.list<{ metadata: { name: string } }>(RESOURCES.registryCredentials)).items.map((r) => r.metadata.name));
        left = accepted.filter((n) => existing.has(n));
        if (left.length) await sleep(1000);
      }
      for (const n of left) violations.push(`${n}: still there 120 s after its deletion`);
    }

    env.report.note(`specs: ${counts.specsAccepted}/${counts.specs} accepted; source Secrets: ${counts.secretsAccepted}/${counts.secrets} accepted; rejections by HTTP status ${JSON.stringify(Object.fromEntries(rejections))}; Ready reasons ${JSON.stringify(Object.fromEntries(reasons))}; reconciles per key: at most ${maxDuringBatch} over a batch, ${maxAfterInput} after its input stopped`);
    const c = await converge(env.client, control(), { timeoutMs: 60_000 });
    violations.push(...c.violations);
    expect(env.report.violations('hostile input', violations)).toEqual([]);
    expect(counts.specsAccepted, 'some generated specs must get through, or the operator is not exercised').toBeGreaterThan(0);
  }, 3_600_000);
});

async function upsertSecret(s: GeneratedSecret): Promise<void> {
  const body = secretObject(s);
  try {
    await env.client.create(RESOURCES.secrets, env.s.credentialsNamespace, body);
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
    // Same name as an earlier one: the type of a Secret cannot change, so replace it whole.
    await env.client.delete(RESOURCES.secrets, env.s.credentialsNamespace, s.name);
    await env.client.create(RESOURCES.secrets, env.s.credentialsNamespace, body);
  }
}
