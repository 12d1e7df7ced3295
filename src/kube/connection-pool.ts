// One connection pool for every request and watch of a process: node's own http/https agents, or
// with HTTP/2 turned on, over TLS a few HTTP/2 connections (http2-transport.ts, with HTTP/1.1 for a
// server that does not offer h2). client-node would build a new undici Agent (a new connection and
// TLS handshake) for each request and each watch; undici also parses HTTP in WebAssembly, whose
// compiled module and memory add about 19 MiB of resident memory to a process that has made one
// request (node's http parser is part of the binary). The pool is dropped after any network-level
// failure, so the next request always starts on a fresh connection, while those in flight finish or
// fail on the old one.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { DispatcherOptions } from './client-node.ts';
import { Http2Transport } from './http2-transport.ts';

/** Rotated client certificates and CA files are picked up at the next renewal. */
export const POOL_RENEW_MS = 5 * 60_000;

/** TCP keep-alive probes start after this long idle, as client-go's dialer. */
const TCP_KEEPALIVE_MS = 30_000;

/**
 * An idle connection is closed after this long: each holds TLS state and buffers, and over HTTP/1.1
 * a fan-out opens one per write in flight, which the steady trickle of writes after it does not need.
 */
const IDLE_CONNECTION_MS = 10_000;

type PooledAgent = (HttpAgent | Http2Transport) & { retire(): void };

export class ConnectionPool {
  private current: { agent: PooledAgent; since: number } | undefined;
  private readonly renewMs: number;
  private readonly now: () => number;
  private readonly options: typeof AGENT_OPTIONS;
  private http2 = false;

  constructor(renewMs = POOL_RENEW_MS, now: () => number = Date.now, idleMs = IDLE_CONNECTION_MS) {
    this.renewMs = renewMs;
    this.now = now;
    this.options = { ...AGENT_OPTIONS, timeout: idleMs };
  }

  /** Over TLS, HTTP/2 streams from now on (or HTTP/1.1 connections again): the next request starts anew. */
  setHttp2(enabled: boolean): void {
    if (enabled === this.http2) return;
    this.http2 = enabled;
    this.retire();
  }

  /**
   * The shared agent, or the HTTP/2 transport over TLS when it is on, for direct connections;
   * undefined for proxies, which keep client-node's own dispatcher.
   */
  agent(options: DispatcherOptions, secure = true): PooledAgent | undefined {
    if (options.type !== 'agent' && options.type !== 'none') return undefined;
    const now = this.now();
    if (!this.current || now - this.current.since > this.renewMs) {
      this.retire();
      const tls = options.type === 'agent' ? withSharedContext(options.connect) : {};
      const https = () => new PoolHttpsAgent({ ...this.options, ...tls });
      const agent = !secure ? new PoolHttpAgent(this.options) : this.http2 ? new Http2Transport(tls, this.options.timeout, https) : https();
      this.current = { agent, since: now };
    }
    return this.current.agent;
  }

  /** Whether the agent is the pool's and still current (neither reset nor due for renewal). */
  isCurrent(agent: unknown): boolean {
    return !!agent && agent === this.current?.agent && this.now() - this.current.since <= this.renewMs;
  }

  /**
   * Drops the pool after a network-level failure: requests and watches already in flight finish or
   * fail on their own connections, and the next one opens a new connection.
   */
  reset(): void {
    this.retire();
  }

  /**
   * After a watch went silent: over HTTP/2, drops the pool only if its connection does not answer a
   * PING (other streams may be busy on it); otherwise at once, as reset().
   */
  verify(): void {
    const agent = this.current?.agent;
    if (!(agent instanceof Http2Transport)) return this.retire();
    void agent.verify(() => {
      if (this.current?.agent === agent) this.retire();
    });
  }

  private retire(): void {
    const old = this.current?.agent;
    this.current = undefined;
    old?.retire();
  }
}

// `timeout` is the idle timeout of a free connection; a request in flight sets its own.
const AGENT_OPTIONS: { keepAlive: true; keepAliveMsecs: number; timeout: number; scheduling: 'lifo' } = {
  keepAlive: true,
  keepAliveMsecs: TCP_KEEPALIVE_MS,
  timeout: IDLE_CONNECTION_MS,
  scheduling: 'lifo',
};

// A retired agent closes its idle connections and every connection whose request ends; requests in
// flight (watches included) finish on theirs. A watch ends within the inactivity timeout or its
// server-side timeout.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- TypeScript's form for a mixin's base
function retiring<A extends new (...args: any[]) => HttpAgent>(Base: A) {
  return class extends Base {
    private retired = false;
    override keepSocketAlive(socket: Socket): boolean {
      // node's returns whether it kept the socket; its type says void.
      return !this.retired && (super.keepSocketAlive(socket) as unknown as boolean);
    }
    retire(): void {
      this.retired = true;
      for (const sockets of Object.values(this.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    }
  };
}

const PoolHttpsAgent = retiring(HttpsAgent);
const PoolHttpAgent = retiring(HttpAgent);

type ConnectOptions = Extract<DispatcherOptions, { type: 'agent' }>['connect'];

/**
 * One TLS context for all of an agent's connections: given the CA, certificate and key instead,
 * every new connection parses them into a context of its own, about half of its handshake's CPU.
 */
function withSharedContext(connect: ConnectOptions): AgentOptions {
  const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = connect;
  const verify = {
    ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
  if (ca === undefined && cert === undefined && key === undefined && pfx === undefined) return verify;
  return { ...verify, secureContext: createSecureContext({ ca, cert, key, pfx, passphrase }) };
}
