// One HTTP/1.1 connection pool for every request and watch of a process. client-node builds a new
// undici Agent (a new connection and TLS handshake) for each request and each watch, and undici 8
// negotiates HTTP/2 by default. Over HTTP/2, every request shares one connection: when kube-apiserver
// was killed and restarted under load, that session was left in a state where new requests and watch
// connects on it timed out, 30 s each, until the pool was replaced minutes later (reproduced by
// test/chaos/restarts.test.ts under CPU load). Over HTTP/1.1 each request in flight has a connection of
// its own, a dead one fails alone, and the pool is also dropped after any network-level failure, so
// the next request always starts from fresh connections.
import { createSecureContext } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { DispatcherOptions } from './client-node.ts';

/** Rotated client certificates and CA files are picked up at the next renewal. */
export const POOL_RENEW_MS = 5 * 60_000;

export class ConnectionPool {
  private current: { agent: Agent; since: number } | undefined;
  private readonly renewMs: number;
  private readonly now: () => number;

  constructor(renewMs = POOL_RENEW_MS, now: () => number = Date.now) {
    this.renewMs = renewMs;
    this.now = now;
  }

  /**
   * The shared agent for direct connections (with or without TLS options); undefined for proxies,
   * which keep client-node's own dispatcher.
   */
  dispatcher(options: DispatcherOptions): Dispatcher | undefined {
    if (options.type !== 'agent' && options.type !== 'none') return undefined;
    const now = this.now();
    if (!this.current || now - this.current.since > this.renewMs) {
      this.retire();
      const connect = options.type === 'agent' ? withSharedContext(options.connect) : undefined;
      this.current = { agent: new Agent({ allowH2: false, ...(connect ? { connect } : {}) }), since: now };
    }
    return this.current.agent;
  }

  /** Whether the dispatcher is the pool's agent and still current (neither reset nor due for renewal). */
  isCurrent(dispatcher: Dispatcher | undefined): boolean {
    return !!dispatcher && dispatcher === this.current?.agent && this.now() - this.current.since <= this.renewMs;
  }

  /**
   * Drops the pool after a network-level failure: requests and watches already in flight finish or
   * fail on their own connections, and the next one opens a new connection.
   */
  reset(): void {
    this.retire();
  }

  private retire(): void {
    const old = this.current?.agent;
    this.current = undefined;
    // close() lets requests in flight (watches included) finish; a watch holds its connection until
    // it ends, and every watch ends within the inactivity timeout or its server-side timeout.
    void old?.close().catch(() => undefined);
  }
}

type ConnectOptions = Extract<DispatcherOptions, { type: 'agent' }>['connect'];

/**
 * One TLS context for all of an agent's connections: given the CA, certificate and key instead,
 * every new connection parses them into a context of its own, about half of its handshake's CPU.
 */
function withSharedContext(connect: ConnectOptions): ConnectOptions {
  const { ca, cert, key, pfx, passphrase, ...rest } = connect;
  if (ca === undefined && cert === undefined && key === undefined && pfx === undefined) return connect;
  return { ...rest, secureContext: createSecureContext({ ca, cert, key, pfx, passphrase }) };
}
