// Leader election on a coordination.k8s.io/v1 Lease, following client-go's rules: a lease is free
// when its holder is empty or when its record has not changed for leaseDuration by our own clock
// (so clock skew between replicas does not matter); every write is conditional on resourceVersion.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { microTime } from '../controller/events.ts';
import { RESOURCES, isConflict, isNotFound, type KubeClient } from './client.ts';
import { describe } from './informer.ts';

export interface LeaseOptions {
  namespace: string;
  name: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity?: string;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export class LeaderElector {
  readonly identity: string;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly options: LeaseOptions;
  private observedRecord = '';
  private observedAt = 0;
  private lease: Lease | undefined;
  private leading = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopWatchdog: () => void = () => undefined;

  constructor(client: KubeClient, log: Logger, options: LeaseOptions) {
    this.client = client;
    this.log = log;
    this.options = options;
    this.identity = options.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomUUID()}`;
  }

  /** Tries every retry period until the lease is ours (true) or `cancelled()` says stop (false). */
  async acquire(cancelled: () => boolean): Promise<boolean> {
    this.log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.identity }, 'waiting for the leader lease');
    while (!cancelled()) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.log.info({ identity: this.identity }, 'became leader');
        return true;
      }
      await sleep(this.options.retryPeriodMs * (1 + Math.random() * 0.2));
    }
    return false;
  }

  /**
   * Renews every retry period; calls `onLost` once no renewal has succeeded for the renew deadline.
   * A watchdog checks the deadline on its own clock, so a request hanging on a dead connection
   * cannot keep a former leader running past it.
   */
  keepRenewing(onLost: () => void): void {
    let lastRenew = Date.now();
    const lost = () => {
      if (!this.leading) return;
      this.leading = false;
      clearTimeout(this.renewTimer);
      clearInterval(watchdog);
      onLost();
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastRenew > this.options.renewDeadlineMs) lost();
    }, Math.max(50, Math.min(1000, this.options.retryPeriodMs / 2)));
    const tick = async () => {
      if (!this.leading) return;
      if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      if (this.leading) this.renewTimer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    };
    this.renewTimer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    this.stopWatchdog = () => clearInterval(watchdog);
  }

  /** Gives the lease up so a standby takes over without waiting for it to expire. */
  async release(): Promise<void> {
    clearTimeout(this.renewTimer);
    this.stopWatchdog();
    if (!this.leading || !this.lease) return;
    this.leading = false;
    const now = microTime(new Date());
    try {
      await this.leaseRequest('PUT', this.lease.metadata, { ...this.lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now });
      this.log.info('released the leader lease');
    } catch (err) {
      this.log.warn({ error: describe(err) }, 'could not release the leader lease; it expires on its own');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.options;
    const now = new Date();
    const leaseDurationSeconds = Math.max(1, Math.round(this.options.leaseDurationMs / 1000));
    let current: Lease;
    try {
      current = await this.leaseRequest('GET');
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        this.lease = await this.leaseRequest('POST', { name, namespace }, {
          holderIdentity: this.identity,
          leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        });
        return true;
      } catch (createErr) {
        return this.failed(createErr);
      }
    }

    const record = JSON.stringify(current.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = current.spec.holderIdentity ?? '';
    const duration = (current.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== this.identity && this.observedAt + duration > Date.now()) return false;

    const mine = holder === this.identity;
    const spec: Lease['spec'] = {
      holderIdentity: this.identity,
      leaseDurationSeconds,
      acquireTime: mine ? current.spec.acquireTime ?? microTime(now) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (current.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    try {
      this.lease = await this.leaseRequest('PUT', current.metadata, spec);
      this.observedRecord = JSON.stringify(this.lease.spec);
      this.observedAt = Date.now();
      return true;
    } catch (err) {
      return this.failed(err);
    }
  }

  /** One request about our Lease; no attempt may outlast the renew deadline, as in client-go. */
  private leaseRequest(method: 'GET' | 'POST' | 'PUT', metadata?: Lease['metadata'], spec?: Lease['spec']): Promise<Lease> {
    const { namespace, name } = this.options;
    return this.client.request<Lease>(method, this.client.path(RESOURCES.leases, namespace, method === 'POST' ? undefined : name), {
      ...(metadata ? { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec } } : {}),
      timeoutMs: this.options.renewDeadlineMs,
      resource: 'leases',
    });
  }

  private failed(err: unknown): false {
    if (!isConflict(err)) this.log.warn({ error: describe(err) }, 'leader lease request failed');
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
