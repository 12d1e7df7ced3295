// HTTP/2 to the API server (--http2), as client-go speaks it: every request and watch is a stream
// of a few TLS connections, taken in turn. Against HTTP/1.1 with a connection per request in
// flight, a fan-out's writes cost the client less CPU (no TLS handshake per connection, less
// per-connection record and parser work), and an idle operator holds a few connections instead of
// one per watch. More than one, because kube-apiserver (Go's HTTP/2 server) reads and schedules
// each connection's frames in one goroutine: over one connection a 10,000-namespace fan-out took a
// third longer than over HTTP/1.1, over four as long (one run each; README, Performance). A server
// that does not offer h2 in ALPN gets HTTP/1.1 over the pool's agent instead.
//
// Failure handling is the pool's, as with HTTP/1.1: every stream has its own idle timeout, and a
// request that fails without a response resets the pool, so the next request starts a new
// connection while the streams still open on the old one finish or fail on their own.
import { connect as connectSession, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Agent } from 'node:https';
import { isIP } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { connectHost, type Target } from './target.ts';
import { timeoutError } from './timeout-error.ts';

/**
 * How long a PING may go unanswered before its connection is given up (client-go's PingTimeout is
 * 15 s; an API server answers at once, from its transport).
 */
export const PING_TIMEOUT_MS = 5_000;

/** Connections the streams are spread over, in turn. */
export const CONNECTIONS = 4;

/** Flow-control windows as client-go's (4 MiB a stream): a large list is not held to 64 KiB a round trip. */
const STREAM_WINDOW = 4 * 2 ** 20;
const CONNECTION_WINDOW = 16 * 2 ** 20;

interface Slot {
  session?: ClientHttp2Session | undefined;
  connecting?: Promise<ClientHttp2Session | Agent> | undefined;
}

export class Http2Transport {
  private readonly slots: Slot[];
  private next = 0;
  /** Set once the server has answered ALPN without h2: HTTP/1.1 from then on. */
  private http1: (Agent & { retire(): void }) | undefined;
  private readonly tls: ConnectionOptions;
  private readonly idleMs: number;
  private readonly makeHttp1: () => Agent & { retire(): void };
  private retired = false;
  /** Every session not yet closed, with its open streams and the timer that closes it when idle. */
  private readonly sessions = new Map<ClientHttp2Session, { streams: number; idle: NodeJS.Timeout | undefined }>();
  /** The PING in flight on a connection, resolving to whether it was answered. */
  private readonly pinging = new Map<ClientHttp2Session, Promise<boolean>>();
  private readonly pingTimeoutMs: number;

  /**
   * `tls`: the pool's TLS options (shared context, verification); `idleMs`: a connection with no
   * stream open is closed after this long; `makeHttp1`: the agent for a server without h2.
   */
  constructor(tls: ConnectionOptions, idleMs: number, makeHttp1: () => Agent & { retire(): void }, pingTimeoutMs = PING_TIMEOUT_MS, connections = CONNECTIONS) {
    this.slots = Array.from({ length: connections }, () => ({}));
    this.pingTimeoutMs = pingTimeoutMs;
    this.tls = tls;
    this.idleMs = idleMs;
    this.makeHttp1 = makeHttp1;
  }

  /**
   * The next connection in turn (connecting it when it is not open), or the HTTP/1.1 agent for a
   * server that does not speak h2. Rejects when connecting fails or takes longer than `timeoutMs`.
   */
  connection(url: Target, timeoutMs: number): Promise<ClientHttp2Session | Agent> {
    if (this.http1) return Promise.resolve(this.http1);
    // A retired transport's requests were already on their way; they get a connection of their own.
    if (this.retired) return this.connect(url, timeoutMs, undefined);
    const slot = this.slots[this.next++ % this.slots.length]!;
    const session = slot.session;
    if (session && !session.closed && !session.destroyed) return Promise.resolve(session);
    slot.connecting ??= this.connect(url, timeoutMs, slot).finally(() => (slot.connecting = undefined));
    return slot.connecting;
  }

  /** Counts a stream, so the connection stays open (and keeps the process alive) while it runs. */
  track(session: ClientHttp2Session, stream: ClientHttp2Stream): void {
    const state = this.sessions.get(session);
    if (!state) return;
    state.streams++;
    clearTimeout(state.idle);
    session.ref();
    stream.once('close', () => {
      if (--state.streams > 0) return;
      session.unref();
      this.closeWhenIdle(session, state);
    });
  }

  /**
   * Asks each open connection for a PING and calls `dead` when one does not answer within the PING
   * timeout (or fails first); resolves to whether all answered. A silent watch on a live
   * connection is only a quiet watch: over HTTP/2 this is how it is told from a half-open connection
   * without dropping every other stream with it. One PING at a time per connection.
   */
  verify(dead: () => void): Promise<boolean> {
    const checks = this.slots.flatMap((slot) => (slot.session ? [this.ping(slot.session)] : []));
    return Promise.all(checks).then((answers) => {
      const alive = answers.every((a) => a);
      if (!alive) dead();
      return alive;
    });
  }

  private ping(session: ClientHttp2Session): Promise<boolean> {
    const pending = this.pinging.get(session);
    if (pending) return pending;
    const check = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.pingTimeoutMs).unref();
      const answered = (alive: boolean) => {
        clearTimeout(timer);
        resolve(alive);
      };
      try {
        if (!session.ping((err) => answered(!err))) answered(false);
      } catch {
        answered(false);
      }
    }).finally(() => this.pinging.delete(session));
    this.pinging.set(session, check);
    return check;
  }

  /** No new stream on any of its connections; the open ones finish, then each connection closes. */
  retire(): void {
    this.retired = true;
    for (const slot of this.slots) slot.session = undefined;
    for (const [session, state] of this.sessions) {
      clearTimeout(state.idle);
      session.close();
    }
    this.http1?.retire();
  }

  private closeWhenIdle(session: ClientHttp2Session, state: { idle: NodeJS.Timeout | undefined }): void {
    if (this.retired) session.close();
    else state.idle = setTimeout(() => session.close(), this.idleMs).unref();
  }

  private connect(url: Target, timeoutMs: number, slot: Slot | undefined): Promise<ClientHttp2Session | Agent> {
    return new Promise((resolve, reject) => {
      const host = connectHost(url);
      const socket = connectTls({
        ...this.tls,
        host,
        port: Number(url.port || 443),
        ...(this.tls.servername === undefined && !isIP(host) ? { servername: host } : {}),
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      socket.setTimeout(timeoutMs, () => socket.destroy(timeoutError(timeoutMs)));
      socket.once('error', reject);
      // Closed by the other end before TLS was established, with no error: reject all the same.
      socket.once('close', () => reject(new Error('the connection closed before TLS was established')));
      socket.once('secureConnect', () => {
        socket.setTimeout(0);
        socket.removeListener('error', reject);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          this.http1 = this.makeHttp1();
          resolve(this.http1);
          return;
        }
        const session = connectSession(url.origin, { createConnection: () => socket, settings: { initialWindowSize: STREAM_WINDOW } });
        const state: { streams: number; idle: NodeJS.Timeout | undefined } = { streams: 0, idle: undefined };
        this.sessions.set(session, state);
        // A session the server is done with (GOAWAY, reset, closed) takes no new stream: the next
        // request opens another. Its open streams see the failure themselves.
        const drop = () => {
          if (slot?.session === session) slot.session = undefined;
        };
        session.once('goaway', drop);
        session.on('error', drop);
        session.once('close', () => {
          drop();
          this.sessions.delete(session);
        });
        session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW));
        session.unref();
        // Closed if no stream comes (the request that connected it opens one at once).
        state.idle = setTimeout(() => session.close(), this.idleMs).unref();
        if (slot && !this.retired) slot.session = session;
        resolve(session);
      });
    });
  }
}
