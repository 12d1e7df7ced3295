// Validation of the credentials against the registries, without a registry: which targets a spec
// gives, when the validator checks (a new config, the annotation, the interval) and never more,
// and what the status and Events say of the results.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveSpec, type RegistryStatus } from '../../src/api/schema.ts';
import { Digest } from '../../src/controller/digest.ts';
import { authEntry, DOCKER_HUB_KEY, type ResolvedEntry } from '../../src/controller/dockerconfig.ts';
import { CREDENTIALS_VALID, eventsFor, nextStatus, type Outcome } from '../../src/controller/status.ts';
import type { ProbeOutcome, ProbeTarget } from '../../src/controller/validation/probe.ts';
import { validationTargets, type CaBundleLookup } from '../../src/controller/validation/targets.ts';
import { Validator } from '../../src/controller/validation/validator.ts';
import { Metrics } from '../../src/server/metrics.ts';

const digest = Digest.random();
const pw = (name: string) => ({ secretKeyRef: { name, key: 'password' } });
const noCa: CaBundleLookup = {
  secretKey: (name) => ({ ok: false, message: `Secret creds/${name} not found` }),
  configMapKey: (name, key) => (name === 'ca' && key === 'ca.crt' ? { ok: true, pem: 'PEM' } : { ok: false, message: `ConfigMap creds/${name} not found` }),
};

function spec(registries: unknown[], validation?: unknown) {
  const r = resolveSpec('rc', { registries, ...(validation ? { validation } : {}) });
  if (!r.ok) throw new Error(r.message);
  return r.spec;
}

describe('the validation spec', () => {
  it('defaults to on, every hour, and never checks more often than once a minute', () => {
    expect(spec([{ server: 'ghcr.io', username: 'u', passwordFrom: pw('p') }]).validation).toEqual({ enabled: true, intervalMs: 3_600_000 });
    expect(spec([{ server: 'ghcr.io', username: 'u', passwordFrom: pw('p') }], { interval: '1h30m', enabled: false }).validation).toEqual({ enabled: false, intervalMs: 5_400_000 });
    expect(spec([{ server: 'ghcr.io', username: 'u', passwordFrom: pw('p') }], { interval: '5s' }).validation.intervalMs).toBe(60_000);
  });

  it.each([['1 hour'], ['1d'], ['-5m'], ['h']])('refuses the interval %s', (interval) => {
    const r = resolveSpec('rc', { registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: pw('p') }], validation: { interval } });
    expect(r.ok).toBe(false);
  });

  it('takes caBundleFrom with exactly one of a Secret or a ConfigMap key', () => {
    const entry = (caBundleFrom: unknown) => resolveSpec('rc', { registries: [{ server: 'r.io', username: 'u', passwordFrom: pw('p'), caBundleFrom }] });
    expect(entry({ configMapKeyRef: { name: 'ca', key: 'ca.crt' } }).ok).toBe(true);
    expect(entry({ secretKeyRef: { name: 'ca', key: 'ca.crt' } }).ok).toBe(true);
    expect(entry({})).toMatchObject({ ok: false, message: expect.stringContaining('exactly one of secretKeyRef or configMapKeyRef') });
    expect(entry({ secretKeyRef: { name: 'a', key: 'k' }, configMapKeyRef: { name: 'b', key: 'k' } }).ok).toBe(false);
  });
});

describe('validationTargets', () => {
  const resolved = (...auths: Array<Record<string, ReturnType<typeof authEntry>>>): ResolvedEntry[] => auths.map((a, i) => ({ label: `registries[${i}]`, auths: a }));

  it('gives one target per registry with the TLS settings of its entry; the first entry naming a registry wins', () => {
    const registries = spec([
      { server: 'r.io', username: 'a', passwordFrom: pw('p'), caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } },
      { dockerConfigFrom: { secretRef: { name: 'cfg' } }, insecureSkipTLSVerify: true },
    ]).registries;
    const inputs = validationTargets(registries, resolved(
      { 'r.io': authEntry('a', 'pa') },
      { 'r.io': authEntry('b', 'pb'), [DOCKER_HUB_KEY]: authEntry('c', 'pc') },
    ), noCa, digest);
    expect(inputs.targets).toEqual([
      { server: DOCKER_HUB_KEY, username: 'c', password: 'pc', insecureSkipTLSVerify: true },
      { server: 'r.io', username: 'a', password: 'pa', caBundle: 'PEM' },
    ]);
  });

  it('reports a CA bundle it cannot read instead of checking without it', () => {
    const registries = spec([{ server: 'r.io', username: 'a', passwordFrom: pw('p'), caBundleFrom: { secretKeyRef: { name: 'gone', key: 'ca.crt' } } }]).registries;
    expect(validationTargets(registries, resolved({ 'r.io': authEntry('a', 'pa') }), noCa, digest).targets).toEqual([
      { server: 'r.io', username: 'a', password: 'pa', caProblem: 'caBundleFrom: Secret creds/gone not found' },
    ]);
  });

  it('has a digest that changes with a password, a CA bundle or a TLS setting, and not otherwise', () => {
    const one = (password: string, ca: CaBundleLookup, insecure = false) => validationTargets(
      spec([{ server: 'r.io', username: 'a', passwordFrom: pw('p'), insecureSkipTLSVerify: insecure, caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } }]).registries,
      resolved({ 'r.io': authEntry('a', password) }),
      ca,
      digest,
    ).digest;
    const otherCa: CaBundleLookup = { ...noCa, configMapKey: () => ({ ok: true, pem: 'OTHER' }) };
    expect(one('x', noCa)).toBe(one('x', noCa));
    expect(new Set([one('x', noCa), one('y', noCa), one('x', otherCa), one('x', noCa, true)]).size).toBe(4);
    expect(one('x', noCa)).not.toContain('x');
  });
});

describe('Validator', () => {
  const target = (server: string, password = 'pw'): ProbeTarget => ({ server, username: 'u', password });
  const inputs = (digestValue: string, ...servers: string[]) => ({ targets: servers.map((s) => target(s)), digest: digestValue });
  let probes: ProbeTarget[];
  let answers: Map<string, ProbeOutcome['result']>;
  let woken: string[];
  let validator: Validator;
  const flush = async () => {
    for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(0);
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    probes = [];
    answers = new Map();
    woken = [];
    validator = new Validator({
      wake: (c) => woken.push(c),
      random: () => 0.5,
      probe: async (t) => {
        probes.push(t);
        return { server: t.server, result: answers.get(t.server) ?? 'Valid', message: `answer for ${t.server}` };
      },
    });
  });

  afterEach(() => {
    validator.stop();
    vi.useRealTimers();
  });

  it('checks a new config once, wakes the credential with the results, and checks again only when the config changes', async () => {
    validator.observe('rc', inputs('d1', 'a.io', 'b.io'), 3_600_000);
    expect(validator.results('rc')).toBeUndefined();
    await flush();
    expect(probes.map((p) => p.server)).toEqual(['a.io', 'b.io']);
    expect(woken).toEqual(['rc']);
    expect(validator.results('rc')).toEqual([
      { server: 'a.io', result: 'Valid', message: 'answer for a.io', checkedAt: '2026-01-01T00:00:00Z' },
      { server: 'b.io', result: 'Valid', message: 'answer for b.io', checkedAt: '2026-01-01T00:00:00Z' },
    ]);
    // The reconcile that writes the status observes the same config: no second check.
    validator.observe('rc', inputs('d1', 'a.io', 'b.io'), 3_600_000);
    await flush();
    expect(probes).toHaveLength(2);
    // A rotation: checked again; until then no results describe what is rendered.
    answers.set('a.io', 'Unauthorized');
    validator.observe('rc', inputs('d2', 'a.io', 'b.io'), 3_600_000);
    expect(validator.results('rc')).toBeUndefined();
    await flush();
    expect(probes).toHaveLength(4);
    expect(validator.results('rc')?.map((r) => r.result)).toEqual(['Unauthorized', 'Valid']);
  });

  it('checks again every interval, jittered, and when the annotation changes', async () => {
    validator.observe('rc', inputs('d1', 'a.io'), 600_000, 'first');
    await flush();
    expect(probes).toHaveLength(1);
    validator.observe('rc', inputs('d1', 'a.io'), 600_000, 'first');
    await flush();
    expect(probes).toHaveLength(1);
    validator.observe('rc', inputs('d1', 'a.io'), 600_000, 'second');
    await flush();
    expect(probes).toHaveLength(2);
    // random() 0.5: exactly the interval.
    await vi.advanceTimersByTimeAsync(599_999);
    expect(probes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(probes).toHaveLength(3);
    expect(woken).toEqual(['rc', 'rc', 'rc']);
  });

  it('checks what is new once the running check ends, never two at once', async () => {
    let release: (() => void) | undefined;
    const slow = new Validator({
      wake: (c) => woken.push(c),
      probe: async (t) => {
        probes.push(t);
        await new Promise<void>((r) => (release = r));
        return { server: t.server, result: 'Valid', message: 'ok' };
      },
    });
    slow.observe('rc', inputs('d1', 'a.io'), 600_000);
    await flush();
    slow.observe('rc', inputs('d2', 'a.io'), 600_000);
    slow.observe('rc', inputs('d3', 'a.io'), 600_000);
    await flush();
    expect(probes).toHaveLength(1);
    release!();
    await flush();
    expect(probes).toHaveLength(2);
    release!();
    await flush();
    expect(probes).toHaveLength(2);
    expect(slow.results('rc')).toHaveLength(1);
    slow.stop();
  });

  it('reports a CA bundle it could not read as TLSError without probing, and forgets a credential for good', async () => {
    validator.observe('rc', { targets: [{ ...target('a.io'), caProblem: 'caBundleFrom: ConfigMap creds/ca not found' }], digest: 'd1' }, 600_000);
    await flush();
    expect(probes).toEqual([]);
    expect(validator.results('rc')).toEqual([{ server: 'a.io', result: 'TLSError', message: 'caBundleFrom: ConfigMap creds/ca not found', checkedAt: '2026-01-01T00:00:00Z' }]);
    validator.forget('rc');
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(probes).toEqual([]);
    expect(validator.results('rc')).toBeUndefined();
  });
});

describe('status and Events from validation', () => {
  const applied: Outcome = { kind: 'applied', matched: 1, synced: 1, patched: 1, failures: [], hash: 'hmac-sha256:x', shadowed: [], writes: 0 };
  const now = new Date('2026-01-01T00:00:00Z');
  const reg = (server: string, result: RegistryStatus['result']): RegistryStatus => ({ server, result, message: `m-${server}`, checkedAt: '2026-01-01T00:00:00Z' });
  const condition = (s: ReturnType<typeof nextStatus>) => s.conditions?.find((c) => c.type === CREDENTIALS_VALID);

  it('is Unknown until the first check, True when every registry is valid, False naming the failing ones', () => {
    const unknown = nextStatus(undefined, 3, applied, now, { enabled: true, results: undefined });
    expect(condition(unknown)).toMatchObject({ status: 'Unknown', reason: 'NotChecked', observedGeneration: 3 });
    expect(unknown.registries).toBeUndefined();
    const valid = nextStatus(unknown, 3, applied, now, { enabled: true, results: [reg('a.io', 'Valid'), reg('b.io', 'Valid')] });
    expect(condition(valid)).toMatchObject({ status: 'True', reason: 'Valid', message: '2 of 2 registries accept the credentials' });
    expect(valid.registries).toHaveLength(2);
    const invalid = nextStatus(valid, 3, applied, now, { enabled: true, results: [reg('a.io', 'Valid'), reg('b.io', 'Unauthorized')] });
    expect(condition(invalid)).toMatchObject({ status: 'False', reason: 'Unauthorized', message: 'b.io: Unauthorized (m-b.io)' });
    // Ready is about propagation: validation never changes it.
    expect(invalid.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
  });

  it('keeps the last results while a new config is being checked, and without a view keeps everything', () => {
    const valid = nextStatus(undefined, 1, applied, now, { enabled: true, results: [reg('a.io', 'Valid')] });
    const pending = nextStatus(valid, 1, applied, new Date('2026-01-01T01:00:00Z'), { enabled: true, results: undefined });
    expect(condition(pending)).toEqual(condition(valid));
    expect(pending.registries).toEqual(valid.registries);
    const invalidSpec = nextStatus(valid, 2, { kind: 'invalidSpec', message: 'bad' }, now);
    expect(invalidSpec.registries).toEqual(valid.registries);
  });

  it('says so when validation is off, and drops the results', () => {
    const valid = nextStatus(undefined, 1, applied, now, { enabled: true, results: [reg('a.io', 'Valid')] });
    const off = nextStatus(valid, 2, applied, now, { enabled: false });
    expect(condition(off)).toMatchObject({ status: 'Unknown', reason: 'ValidationDisabled' });
    expect(off.registries).toBeUndefined();
  });

  it('records a Warning when a registry turns invalid and a Normal one when it recovers, nothing while it stays', () => {
    const first = nextStatus(undefined, 1, applied, now, { enabled: true, results: [reg('a.io', 'Valid'), reg('b.io', 'Unreachable')] });
    const registryEvents = (prev: ReturnType<typeof nextStatus> | undefined, next: ReturnType<typeof nextStatus>) =>
      eventsFor(prev, next).filter((e) => e.reason.startsWith('Registry'));
    expect(registryEvents(undefined, first)).toEqual([{ type: 'Warning', reason: 'RegistryInvalid', note: 'b.io: Unreachable (m-b.io)' }]);
    const same = nextStatus(first, 1, applied, new Date('2026-01-01T02:00:00Z'), { enabled: true, results: [reg('a.io', 'Valid'), reg('b.io', 'Unreachable')] });
    expect(registryEvents(first, same)).toEqual([]);
    const turned = nextStatus(same, 1, applied, now, { enabled: true, results: [reg('a.io', 'Unauthorized'), reg('b.io', 'Valid')] });
    expect(registryEvents(same, turned)).toEqual([
      { type: 'Warning', reason: 'RegistryInvalid', note: 'a.io: Unauthorized (m-a.io)' },
      { type: 'Normal', reason: 'RegistryValid', note: 'b.io accepts the credentials again' },
    ]);
  });
});

describe('the registry validation metric', () => {
  it('has one series per result for each registry, 1 for the current one, and drops registries and credentials that are gone', async () => {
    const metrics = new Metrics();
    const series = async () => (await metrics.registry.getSingleMetric('regcred_registry_validation')!.get()).values
      .filter((v) => v.value === 1)
      .map((v) => `${v.labels.credential} ${v.labels.server} ${v.labels.result}`)
      .sort();
    const count = async () => (await metrics.registry.getSingleMetric('regcred_registry_validation')!.get()).values.length;
    metrics.setRegistryResults('rc', [{ server: 'a.io', result: 'Valid' }, { server: 'b.io', result: 'Unauthorized' }]);
    expect(await series()).toEqual(['rc a.io Valid', 'rc b.io Unauthorized']);
    expect(await count()).toBe(10);
    metrics.setRegistryResults('rc', [{ server: 'b.io', result: 'Valid' }]);
    expect(await series()).toEqual(['rc b.io Valid']);
    expect(await count()).toBe(5);
    metrics.forgetRegistryResults('rc');
    expect(await count()).toBe(0);
  });
});
