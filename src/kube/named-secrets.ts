// Watches Secrets by name across all namespaces (field selector metadata.name=X), one informer per
// name the operator may write. RBAC authorizes such a list or watch against `resourceNames`, so the
// operator needs no permission on Secrets of any other name, and no Secret of another name is ever
// sent to it.
import type { Logger } from 'pino';
import { RESOURCES, type KubeClient } from './client.ts';
import { Informer, type Handler, type InformerOptions } from './informer.ts';
import type { Secret } from './objects.ts';

export class SecretsByName {
  private readonly informers = new Map<string, Informer<Secret>>();

  constructor(client: KubeClient, log: Logger, names: Iterable<string>, options: Pick<InformerOptions<Secret>, 'transform' | 'metadataOnly'> = {}) {
    for (const name of names) {
      this.informers.set(name, new Informer<Secret>(client, RESOURCES.secrets, log, { ...options, fieldSelector: `metadata.name=${name}` }));
    }
  }

  get names(): string[] {
    return [...this.informers.keys()];
  }

  has(name: string): boolean {
    return this.informers.has(name);
  }

  on(handler: Handler<Secret>): void {
    for (const i of this.informers.values()) i.on(handler);
  }

  get(namespace: string, name: string): Secret | undefined {
    return this.informers.get(name)?.get(namespace, name);
  }

  /** Every kept Secret in the namespace, one per watched name at most. */
  inNamespace(namespace: string): Secret[] {
    return [...this.informers.values()].flatMap((i) => i.inNamespace(namespace));
  }

  list(): Secret[] {
    return [...this.informers.values()].flatMap((i) => i.list());
  }

  get size(): number {
    let n = 0;
    for (const i of this.informers.values()) n += i.size;
    return n;
  }

  /** Records a Secret we just wrote, so its watch event does not wake anyone. */
  observe(secret: Secret): void {
    this.informers.get(secret.metadata.name)?.observe(secret);
  }

  /** See Informer.writing(): a write of ours to this Secret is on its way. */
  writing(namespace: string, name: string): () => void {
    return this.informers.get(name)?.writing(namespace, name) ?? (() => {});
  }

  /** Records a Secret we just deleted, so its watch event does not wake anyone. */
  forget(namespace: string, name: string): void {
    this.informers.get(name)?.forget(namespace, name);
  }

  all(): Informer<Secret>[] {
    return [...this.informers.values()];
  }
}
