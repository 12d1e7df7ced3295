// Secrets watched by name: one field-selected watch per allowed name, nothing of any other name.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { SecretsByName } from '../../src/kube/named-secrets.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { FakeClient } from '../support/fake-client.ts';

const secret = (namespace: string, name: string): Secret => ({ metadata: { namespace, name }, type: 'Opaque', data: { k: 'dg==' } });
const log = pino({ level: 'silent' });
const eventually = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

let byName: SecretsByName | undefined;
afterEach(() => {
  for (const i of byName?.all() ?? []) i.stop();
});

async function started(fake: FakeClient, names: string[]): Promise<{ byName: SecretsByName; changed: string[] }> {
  byName = new SecretsByName(fake.client, log, names);
  const changed: string[] = [];
  byName.on((s) => changed.push(`${s.metadata.namespace}/${s.metadata.name}`));
  for (const i of byName.all()) i.start();
  await Promise.all(byName.all().map((i) => i.waitForSync(1000)));
  return { byName, changed };
}

describe('SecretsByName', () => {
  it('lists and watches each allowed name alone, cluster-wide, and never sees another name', async () => {
    const fake = new FakeClient();
    fake.seed(RESOURCES.secrets, secret('a', 'regcred'), secret('a', 'pull'), secret('b', 'regcred'), secret('a', 'unrelated'));
    const { byName: s, changed } = await started(fake, ['regcred', 'pull']);
    const lists = fake.calls.filter((c) => c.verb === 'list');
    expect(lists).toHaveLength(2);
    expect(lists.every((c) => c.namespace === undefined)).toBe(true);
    expect(s.all().map((i) => i.name)).toEqual(['secrets metadata.name=regcred', 'secrets metadata.name=pull']);
    expect(s.names).toEqual(['regcred', 'pull']);
    expect(s.has('pull') && !s.has('unrelated')).toBe(true);
    expect(s.size).toBe(3);
    expect(s.inNamespace('a').map((x) => x.metadata.name).sort()).toEqual(['pull', 'regcred']);
    expect(s.get('a', 'unrelated')).toBeUndefined();

    await fake.client.create(RESOURCES.secrets, 'c', secret('c', 'unrelated'));
    await fake.client.create(RESOURCES.secrets, 'c', secret('c', 'pull'));
    await eventually(() => changed.includes('c/pull'));
    expect(changed).not.toContain('c/unrelated');
  });

  it('records our own writes and deletes so their watch events wake nobody', async () => {
    const fake = new FakeClient();
    fake.seed(RESOURCES.secrets, secret('a', 'regcred'), secret('b', 'regcred'));
    const { byName: s, changed } = await started(fake, ['regcred']);
    changed.length = 0;

    const written = await fake.client.replace<Secret>(RESOURCES.secrets, 'a', 'regcred', { ...secret('a', 'regcred'), data: { k: 'dzI=' } });
    s.observe(written);
    expect(s.get('a', 'regcred')?.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    const deleted = fake.client.delete(RESOURCES.secrets, 'b', 'regcred');
    s.forget('b', 'regcred');
    await deleted;
    expect(s.get('b', 'regcred')).toBeUndefined();

    // A change made by someone else afterwards is the first event anyone hears of.
    await fake.client.replace(RESOURCES.secrets, 'a', 'regcred', { ...secret('a', 'regcred'), data: { k: 'ZXh0' } });
    await eventually(() => changed.length > 0);
    expect(changed).toEqual(['a/regcred']);
  });

  it('ignores writes of a name it does not watch', async () => {
    const { byName: s } = await started(new FakeClient(), ['regcred']);
    expect(() => s.observe(secret('a', 'other'))).not.toThrow();
    expect(() => s.forget('a', 'other')).not.toThrow();
    expect(s.get('a', 'other')).toBeUndefined();
  });
});
