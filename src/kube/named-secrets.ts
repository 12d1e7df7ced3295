// Watches Secrets by name across all namespaces (field selector metadata.name=X), one informer per
// name in use. This is how the operator sees Secrets it does not manage but whose name it wants —
// to report a conflict, and to take over once the other Secret is gone — without caching every
// Secret in the cluster.
import type { Logger } from 'pino';
import { RESOURCES, type KubeClient } from './client.ts';
import { Informer, type InformerOptions } from './informer.ts';
import type { Secret } from './objects.ts';

export interface NamedSecretsOptions {
  /** How long ensure() waits for a new name's first list (the --cache-sync-timeout flag). */
  syncTimeoutMs?: number;
  /** How each per-name cache lists, watches and shapes what it keeps. */
  informer?: Pick<InformerOptions<Secret>, 'metadataOnly' | 'transform' | 'labelSelector'>;
}

export class NamedSecrets {
  private readonly informers = new Map<string, Informer<Secret>>();
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly onChange: (name: string, namespace: string) => void;
  private readonly syncTimeoutMs: number;

  private readonly informerOptions: Pick<InformerOptions<Secret>, 'metadataOnly' | 'transform' | 'labelSelector'>;

  constructor(client: KubeClient, log: Logger, onChange: (name: string, namespace: string) => void, options: NamedSecretsOptions = {}) {
    this.client = client;
    this.log = log;
    this.onChange = onChange;
    this.syncTimeoutMs = options.syncTimeoutMs ?? 120_000;
    this.informerOptions = options.informer ?? {};
  }

  /**
   * Starts watching `name` if needed and waits until its cache is filled. Rejects after the sync
   * timeout, or when retain() or stop() drops the informer first, so a reconcile never hangs here.
   */
  async ensure(name: string): Promise<Informer<Secret>> {
    let informer = this.informers.get(name);
    if (!informer) {
      informer = new Informer<Secret>(this.client, RESOURCES.secrets, this.log, { ...this.informerOptions, fieldSelector: `metadata.name=${name}` });
      informer.on((secret) => this.onChange(name, secret.metadata.namespace ?? ''));
      this.informers.set(name, informer);
      informer.start();
    }
    await informer.waitForSync(this.syncTimeoutMs);
    return informer;
  }

  get(namespace: string, name: string): Secret | undefined {
    return this.informers.get(name)?.get(namespace, name);
  }

  /** Records a Secret we just wrote, so its watch event does not wake anyone. */
  observe(secret: Secret): void {
    this.informers.get(secret.metadata.name)?.observe(secret);
  }

  /** Records a Secret we just deleted, so its watch event does not wake anyone. */
  forget(namespace: string, name: string): void {
    this.informers.get(name)?.forget(namespace, name);
  }

  /** Stops watching names no RegistryCredential uses any more. */
  retain(names: Set<string>): void {
    for (const [name, informer] of this.informers) {
      if (names.has(name)) continue;
      informer.stop();
      this.informers.delete(name);
    }
  }

  all(): Informer<Secret>[] {
    return [...this.informers.values()];
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
    this.informers.clear();
  }
}
