// Leader election on a coordination.k8s.io/v1 Lease, following client-go's rules: a lease is free
// when its holder is empty or when its record has not changed for leaseDuration by our own clock
// (so clock skew between replicas does not matter); every write is conditional on resourceVersion.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { microTime } from './time.ts';
import { RESOURCES, isConflict, isNotFound, type KubeClient } from './client.ts';
import { describe } from './errors.ts';

export interface LeaseOptions {
  namespace: string;
  name: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity?: string;
}

/** One try: `sentAt` is when the winning write left, `otherHolder` that the Lease names someone else. */
type Attempt = { held: true; sentAt: number } | { held: false; otherHolder: boolean };

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
  private renewedAt = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopWatchdog: () => void = () => undefined;
  private stopped = false;
  private acquiring: Promise<boolean> | undefined;
  private inFlight: Promise<Attempt> | undefined;
  private wake: (() => void) | undefined;
  private releasing: Promise<void> | undefined;

  constructor(client: KubeClient, log: Logger, options: LeaseOptions) {
    this.client = client;
    this.log = log;
    this.options = options;
    this.identity = options.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomUUID()}`;
  }

  /**
   * Tries every retry period until the lease is ours (true) or `cancelled()` or `release()` says
   * stop (false). A lease won by a request that was in flight when the stop came is given back
   * before returning, so an exiting process never leaves it held until it expires.
   */
  acquire(cancelled: () => boolean): Promise<boolean> {
    this.acquiring = this.acquireLoop(() => this.stopped || cancelled());
    return this.acquiring;
  }

  private async acquireLoop(stop: () => boolean): Promise<boolean> {
    this.log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.identity }, 'waiting for the leader lease');
    while (!stop()) {
      const attempt = await this.attempt(false);
      if (attempt.held) {
        if (stop()) {
          await this.writeRelease();
          return false;
        }
        this.leading = true;
        this.log.info({ identity: this.identity }, 'became leader');
        return true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.retryPeriodMs * (1 + Math.random() * 0.2));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return false;
  }

  /**
   * Renews every retry period; calls `onLost` once no renewal has succeeded for the renew deadline,
   * or at once when the Lease names another holder. A watchdog checks the deadline on its own
   * clock, so a request hanging on a dead connection cannot keep a former leader running past it.
   */
  keepRenewing(onLost: () => void): void {
    // Counted from when the last winning write was sent: the server may have applied it at once
    // and others count the lease's expiry from then, however late the response reached us.
    let lastRenew = this.renewedAt;
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
      const attempt = await this.attempt(true);
      if (attempt.held) lastRenew = attempt.sentAt;
      // Another holder means someone took the lease over (it expired by their clock, or a person
      // moved it); every further write of ours would be made without it.
      else if (attempt.otherHolder) lost();
      if (this.leading && !this.stopped) this.renewTimer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    };
    this.renewTimer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    this.stopWatchdog = () => clearInterval(watchdog);
  }

  /**
   * Gives the lease up so a standby takes over without waiting for it to expire. Also stops a
   * running `acquire`, and resolves only once a lease that acquire may still win is given back.
   */
  release(): Promise<void> {
    this.releasing ??= this.releaseOnce();
    return this.releasing;
  }

  private async releaseOnce(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    clearTimeout(this.renewTimer);
    this.stopWatchdog();
    await this.acquiring?.catch(() => false);
    // A renewal in flight may yet move the resourceVersion our release write is conditional on.
    await this.inFlight?.catch(() => undefined);
    if (!this.leading) return;
    this.leading = false;
    await this.writeRelease();
  }

  private async writeRelease(): Promise<void> {
    if (!this.lease) return;
    const now = microTime(new Date());
    try {
      await this.leaseRequest('PUT', this.lease.metadata, { ...this.lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now });
      this.log.info('released the leader lease');
    } catch (err) {
      this.log.warn({ error: describe(err) }, 'could not release the leader lease; it expires on its own');
    }
  }

  private attempt(renewing: boolean): Promise<Attempt> {
    const attempt = this.tryAcquireOrRenew(renewing);
    this.inFlight = attempt;
    return attempt.finally(() => {
      if (this.inFlight === attempt) this.inFlight = undefined;
    });
  }

  private async tryAcquireOrRenew(renewing: boolean): Promise<Attempt> {
    const { namespace, name } = this.options;
    const now = new Date();
    const leaseDurationSeconds = Math.max(1, Math.round(this.options.leaseDurationMs / 1000));
    let current: Lease;
    try {
      current = await this.leaseRequest('GET');
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        const sentAt = Date.now();
        const created = await this.leaseRequest('POST', { name, namespace }, {
          holderIdentity: this.identity,
          leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        });
        return this.won(created, sentAt);
      } catch (createErr) {
        return this.failed(createErr);
      }
    }

    this.observe(current);
    const holder = current.spec.holderIdentity ?? '';
    const duration = (current.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== this.identity && (renewing || this.observedAt + duration > Date.now())) return { held: false, otherHolder: true };

    const mine = holder === this.identity;
    const spec: Lease['spec'] = {
      holderIdentity: this.identity,
      leaseDurationSeconds,
      acquireTime: mine ? current.spec.acquireTime ?? microTime(now) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (current.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    const sentAt = Date.now();
    let written: Lease;
    try {
      written = await this.leaseRequest('PUT', current.metadata, spec);
    } catch (err) {
      if (!renewing || !isConflict(err)) return this.failed(err);
      // A conflict on renewal says only that the Lease changed; whether it is still ours decides
      // between retrying and stepping down.
      try {
        const reread = await this.leaseRequest('GET');
        this.observe(reread);
        const other = reread.spec.holderIdentity ?? '';
        return { held: false, otherHolder: other !== '' && other !== this.identity };
      } catch (readErr) {
        return this.failed(readErr);
      }
    }
    return this.won(written, sentAt);
  }

  private won(lease: Lease, sentAt: number): Attempt {
    this.lease = lease;
    this.observe(lease);
    this.renewedAt = sentAt;
    return { held: true, sentAt };
  }

  private observe(lease: Lease): void {
    const record = JSON.stringify(lease.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
  }

  /** One request about our Lease; no attempt may outlast the renew deadline, as in client-go. */
  private leaseRequest(method: 'GET' | 'POST' | 'PUT', metadata?: Lease['metadata'], spec?: Lease['spec']): Promise<Lease> {
    const { namespace, name } = this.options;
    return this.client.request<Lease>(method, this.client.path(RESOURCES.leases, namespace, method === 'POST' ? undefined : name), {
      ...(metadata ? { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec } } : {}),
      timeoutMs: this.options.renewDeadlineMs,
      resource: 'leases',
      unthrottled: true,
    });
  }

  private failed(err: unknown): Attempt {
    if (!isConflict(err)) this.log.warn({ error: describe(err) }, 'leader lease request failed');
    return { held: false, otherHolder: false };
  }
}
