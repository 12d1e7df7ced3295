// The MutatingWebhookConfiguration for pod CREATE: built whole from the options, created by the
// leader when missing, put back when a field the operator owns is changed (the caBundle above
// all), published again on refresh() when the bundle changes, and never written when it is right.
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  WebhookConfiguration,
  desiredWebhookConfiguration,
  ownedDifferences,
  type MutatingWebhookConfiguration,
  type WebhookConfigurationOptions,
} from '../../src/controller/webhook/configuration.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import { FakeClient } from '../support/fake-client.ts';

const NAME = 'regcred-operator';
const BUNDLE_A = '-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n';
const BUNDLE_B = `${BUNDLE_A}-----BEGIN CERTIFICATE-----\nQkJC\n-----END CERTIFICATE-----\n`;
const SERVICE = { service: { namespace: 'regcred-system', name: 'regcred-operator-webhook', port: 443, path: '/mutate-pods' } };
const EXCLUDED = ['kube-system', 'kube-public', 'kube-node-lease'];
const b64 = (s: string) => Buffer.from(s).toString('base64');
const MWC = RESOURCES.mutatingWebhookConfigurations;

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Watch events (setImmediate) and zero-delay timers; fake timers make a 0 ms timer set while they run a 1 ms one. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await flush();
    await vi.advanceTimersByTimeAsync(1);
  }
}

let fake: FakeClient;
let bundle: string | undefined;
let lines: Array<Record<string, unknown>>;
const instances: WebhookConfiguration[] = [];

function make(options: Partial<WebhookConfigurationOptions> = {}): WebhookConfiguration {
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const w = new WebhookConfiguration(fake.client, log, { name: NAME, clientConfig: SERVICE, excludedNamespaces: EXCLUDED, caBundle: () => bundle, ...options });
  instances.push(w);
  return w;
}

const live = () => fake.object<MutatingWebhookConfiguration>(MWC, undefined, NAME);
const writes = () => fake.writes().filter((c) => c.resource === 'mutatingwebhookconfigurations');
const desired = (caBundle = BUNDLE_A) => desiredWebhookConfiguration({ name: NAME, clientConfig: SERVICE, caBundle, excludedNamespaces: EXCLUDED });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  fake = new FakeClient();
  bundle = BUNDLE_A;
  lines = [];
});

afterEach(() => {
  for (const w of instances.splice(0)) w.stop();
  vi.useRealTimers();
});

describe('desiredWebhookConfiguration', () => {
  it('builds one pods.regcred.dev webhook for pod CREATE, field by field', () => {
    expect(desired()).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: NAME, labels: { 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'webhook' } },
      webhooks: [
        {
          name: 'pods.regcred.dev',
          clientConfig: { service: { namespace: 'regcred-system', name: 'regcred-operator-webhook', port: 443, path: '/mutate-pods' }, caBundle: b64(BUNDLE_A) },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
          failurePolicy: 'Ignore',
          matchPolicy: 'Equivalent',
          namespaceSelector: {
            matchExpressions: [
              { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: EXCLUDED },
              { key: 'regcred.dev/ignore', operator: 'NotIn', values: ['true'] },
            ],
          },
          objectSelector: {},
          sideEffects: 'None',
          timeoutSeconds: 3,
          admissionReviewVersions: ['v1'],
          reinvocationPolicy: 'IfNeeded',
          matchConditions: [{ name: 'not-mirror-pod', expression: "!has(object.metadata.annotations) || !('kubernetes.io/config.mirror' in object.metadata.annotations)" }],
        },
      ],
    });
    expect(Buffer.from(desired().webhooks[0]!.clientConfig.caBundle, 'base64').toString()).toBe(BUNDLE_A);
  });

  it('takes a URL instead of a Service, and copies what it is given', () => {
    const excluded = ['a'];
    const config = desiredWebhookConfiguration({ name: 'x', clientConfig: { url: 'https://10.0.0.1:9443/mutate' }, caBundle: BUNDLE_B, excludedNamespaces: excluded });
    expect(config.webhooks[0]!.clientConfig).toEqual({ url: 'https://10.0.0.1:9443/mutate', caBundle: b64(BUNDLE_B) });
    excluded.push('b');
    expect(config.webhooks[0]!.namespaceSelector.matchExpressions[0]!.values).toEqual(['a']);
  });

  it('compares only what the operator owns', () => {
    const want = desired();
    const same = structuredClone(want) as MutatingWebhookConfiguration;
    same.metadata.labels = { ...same.metadata.labels, team: 'x' };
    same.metadata.annotations = { note: 'y' };
    (same.webhooks![0] as unknown as Record<string, unknown>).someFutureDefault = 'z';
    expect(ownedDifferences(want, same)).toEqual([]);
    const changed = structuredClone(want) as MutatingWebhookConfiguration;
    changed.webhooks![0]!.clientConfig.caBundle = b64(BUNDLE_B);
    changed.webhooks![0]!.namespaceSelector.matchExpressions.pop();
    delete changed.metadata.labels!['app.kubernetes.io/component'];
    expect(ownedDifferences(want, changed)).toEqual(['metadata.labels[app.kubernetes.io/component]', 'webhooks[0].clientConfig', 'webhooks[0].namespaceSelector']);
    expect(ownedDifferences(want, { ...want, webhooks: [...want.webhooks, ...want.webhooks] })).toEqual(['webhooks']);
  });
});

describe('WebhookConfiguration', () => {
  it('creates the configuration when it is missing, once', async () => {
    const w = make();
    w.lead();
    await settle();
    expect(live()).toMatchObject(desired());
    expect(ownedDifferences(desired(), live()!)).toEqual([]);
    expect(writes()).toEqual([{ verb: 'create', resource: 'mutatingwebhookconfigurations', namespace: undefined, name: NAME }]);
    w.refresh();
    await settle();
    expect(writes()).toHaveLength(1);
  });

  it('creates it the moment its watch has synced, however long the first list takes', async () => {
    fake.failNext({ verb: 'list', resource: 'mutatingwebhookconfigurations' }, 500);
    const w = make();
    w.lead();
    await settle();
    expect(writes()).toEqual([]);
    // The watch lists again after its first backoff (0.4 to 0.6 s): the pass waiting for it goes on then.
    await vi.advanceTimersByTimeAsync(600);
    await settle();
    expect(writes()).toEqual([{ verb: 'create', resource: 'mutatingwebhookconfigurations', namespace: undefined, name: NAME }]);
    expect(lines.filter((l) => l.msg === 'webhook: could not reconcile the MutatingWebhookConfiguration; retrying')).toEqual([]);
  });

  it('gives up waiting for its watch after 30 s, says so, and creates it once the watch syncs', async () => {
    const heal = fake.inject((c) => (c.verb === 'list' && c.resource === 'mutatingwebhookconfigurations' ? new KubeError(500, 'Injected', 'injected 500') : undefined));
    const w = make();
    w.lead();
    await settle();
    await vi.advanceTimersByTimeAsync(30_000);
    await settle();
    expect(writes()).toEqual([]);
    expect(lines.filter((l) => l.msg === 'webhook: could not reconcile the MutatingWebhookConfiguration; retrying')).toHaveLength(1);
    heal();
    // The watch's backoff is at most 30 s (and 1.2 times that with jitter) by now.
    await vi.advanceTimersByTimeAsync(40_000);
    await settle();
    expect(writes()).toEqual([{ verb: 'create', resource: 'mutatingwebhookconfigurations', namespace: undefined, name: NAME }]);
  });

  it('writes nothing while there is no CA bundle, and creates it on refresh() once there is', async () => {
    bundle = undefined;
    const w = make();
    w.lead();
    await settle();
    expect(writes()).toEqual([]);
    bundle = BUNDLE_A;
    w.refresh();
    await settle();
    expect(live()?.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(BUNDLE_A));
  });

  it('writes nothing when the live object is right, whatever else it carries', async () => {
    const existing = desired() as MutatingWebhookConfiguration;
    existing.metadata.labels = { ...existing.metadata.labels, team: 'platform' };
    existing.metadata.annotations = { 'example.com/note': 'kept' };
    (existing.webhooks![0] as unknown as Record<string, unknown>).someFutureDefault = true;
    fake.seed(MWC, existing);
    const w = make();
    w.lead();
    await settle();
    w.refresh();
    await settle();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(writes()).toEqual([]);
  });

  it('puts back a caBundle someone overwrote, as soon as the watch shows it', async () => {
    const w = make();
    w.lead();
    await settle();
    const tampered = live()!;
    tampered.webhooks![0]!.clientConfig.caBundle = b64('someone else');
    tampered.metadata.annotations = { 'example.com/note': 'kept' };
    await fake.replace(MWC, undefined, NAME, tampered);
    await settle();
    const restored = live()!;
    expect(restored.webhooks![0]!.clientConfig.caBundle).toBe(b64(BUNDLE_A));
    expect(restored.metadata.annotations).toEqual({ 'example.com/note': 'kept' });
    expect(writes().map((c) => c.verb)).toEqual(['create', 'replace', 'replace']);
    expect(lines.find((l) => l.msg === 'webhook: MutatingWebhookConfiguration restored')?.restored).toEqual(['webhooks[0].clientConfig']);
  });

  it('puts back any other owned field, and the labels, keeping labels of others', async () => {
    const w = make();
    w.lead();
    await settle();
    const tampered = live()!;
    tampered.webhooks![0]!.failurePolicy = 'Fail';
    tampered.webhooks![0]!.namespaceSelector.matchExpressions = [];
    Object.assign(tampered.webhooks![0]!, { objectSelector: { matchLabels: { only: 'these' } } });
    tampered.metadata.labels = { team: 'platform' };
    await fake.replace(MWC, undefined, NAME, tampered);
    await settle();
    const restored = live()!;
    expect(ownedDifferences(desired(), restored)).toEqual([]);
    expect(restored.metadata.labels).toEqual({ team: 'platform', 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'webhook' });
  });

  it('publishes a new bundle on refresh()', async () => {
    const w = make();
    w.lead();
    await settle();
    bundle = BUNDLE_B;
    w.refresh();
    await settle();
    expect(live()?.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(BUNDLE_B));
    expect(writes().map((c) => c.verb)).toEqual(['create', 'replace']);
  });

  it('creates it again after it is deleted', async () => {
    const w = make();
    w.lead();
    await settle();
    fake.remove(MWC, live()!);
    await settle();
    expect(ownedDifferences(desired(), live()!)).toEqual([]);
    expect(writes().map((c) => c.verb)).toEqual(['create', 'create']);
  });

  it('re-reads on a 409 and decides again; backs off on other errors', async () => {
    const w = make();
    w.lead();
    await settle();
    bundle = BUNDLE_B;
    fake.failNext({ verb: 'replace', resource: 'mutatingwebhookconfigurations' }, 409);
    w.refresh();
    await settle();
    expect(live()?.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(BUNDLE_B));
    expect(fake.calls.filter((c) => c.resource === 'mutatingwebhookconfigurations').map((c) => c.verb)).toEqual(['list', 'create', 'replace', 'get', 'replace']);

    bundle = BUNDLE_A;
    fake.failNext({ verb: 'replace', resource: 'mutatingwebhookconfigurations' }, 503);
    w.refresh();
    await settle();
    expect(live()?.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(BUNDLE_B));
    expect(lines.filter((l) => l.msg === 'webhook: could not reconcile the MutatingWebhookConfiguration; retrying')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    await settle();
    expect(live()?.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(BUNDLE_A));
  });

  it('writes nothing after stop()', async () => {
    const w = make();
    w.lead();
    await settle();
    w.stop();
    fake.remove(MWC, live()!);
    w.refresh();
    await settle();
    expect(live()).toBeUndefined();
    expect(writes()).toHaveLength(1);
  });
});
