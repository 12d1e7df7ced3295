// Informer.getSoon: the object at once when cached, when its event arrives, or undefined after the
// bound; what an admission for a pod in a namespace made a moment before waits on.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import type { Namespace } from '../../src/kube/objects.ts';
import { FakeClient } from '../support/fake-client.ts';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

async function started(fake: FakeClient): Promise<Informer<Namespace>> {
  const informer = new Informer<Namespace>(fake.client, RESOURCES.namespaces, pino({ level: 'silent' }));
  informer.start();
  stops.push(() => informer.stop());
  await informer.waitForSync(1000);
  return informer;
}

describe('Informer.getSoon', () => {
  it('answers at once from the cache, on the object\'s arrival, or with undefined at the bound', async () => {
    const fake = new FakeClient();
    fake.seed(RESOURCES.namespaces, { metadata: { name: 'there' } });
    const informer = await started(fake);
    expect((await informer.getSoon(undefined, 'there', 0))?.metadata.name).toBe('there');

    const soon = informer.getSoon(undefined, 'new', 2000);
    await fake.client.create(RESOURCES.namespaces, undefined, { metadata: { name: 'new' } });
    const before = Date.now();
    expect((await soon)?.metadata.name).toBe('new');
    expect(Date.now() - before).toBeLessThan(1000);

    const t0 = Date.now();
    expect(await informer.getSoon(undefined, 'never', 50)).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });
});
