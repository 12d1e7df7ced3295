// The registry probe behind the CredentialsValid condition: does a username and password open a
// container registry? It speaks the Distribution API as `docker login` does: GET /v2/ without
// credentials, then answer the challenge, either Basic (the credentials to the registry) or Bearer
// (the credentials to the token service the registry names, then its token to the registry).
//
// Pure apart from the network: no logging, no global state. Each probe has HTTP agents of its own
// (its own TLS trust), closed when the probe ends. Credentials go only to the registry and to
// the token realm it names, never over plain HTTP unless the registry itself is plain HTTP, and no
// message carries a credential, a token or a query string.
import { getCACertificates } from 'node:tls';
import { Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { open } from '../../kube/exchange.ts';
import { DOCKER_HUB_KEY, basicAuth, registryKey } from '../dockerconfig.ts';
import { classifyNetworkError } from './network-errors.ts';
import { parseWWWAuthenticate, type AuthChallenge } from './www-authenticate.ts';

export type RegistryResult = 'Valid' | 'Unauthorized' | 'Unreachable' | 'TLSError' | 'Unexpected';

export interface ProbeTarget {
  /** The registry key as written in .dockerconfigjson: 'https://index.docker.io/v1/', 'ghcr.io', 'reg.example.com:5000/team', 'http://127.0.0.1:5000'. */
  server: string;
  username: string;
  password: string;
  /** Extra trusted roots (PEM), in addition to the system roots. */
  caBundle?: string;
  insecureSkipTLSVerify?: boolean;
}

export interface ProbeOutcome {
  server: string; // as given
  result: RegistryResult;
  /** One line for status and Events; never credentials, tokens or Authorization headers. */
  message: string;
  /** The registry is spoken to over plain HTTP (credentials travel unencrypted). */
  plainHTTP?: boolean;
}

export interface ProbeOptions {
  /** Per request (connect, headers, body each, and the whole request): default 10 s. */
  timeoutMs?: number;
  /** Aborting rejects the probe with the signal's reason (no outcome: nothing was decided). */
  signal?: AbortSignal;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** Where the Docker Hub key ('https://index.docker.io/v1/' and its spellings) is spoken to. */
export const DOCKER_HUB_REGISTRY = 'https://registry-1.docker.io';
/** The most read of a token service's answer. */
export const TOKEN_RESPONSE_LIMIT = 1 << 20;
const MAX_TOKEN_REDIRECTS = 3;
const DISCARD_LIMIT = 64 * 1024;
const USER_AGENT = 'regcred-operator';
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Where to probe a registry key: Docker Hub (any of its spellings) → https://registry-1.docker.io;
 * an explicit http:// → plain HTTP; anything else HTTPS. A path after the host is dropped (the
 * Distribution API lives at the root). Throws a TypeError when the key names no host.
 */
export function probeURL(server: string): { base: URL; plainHTTP: boolean } {
  const trimmed = server.trim();
  const scheme = /^(https?):\/\//i.exec(trimmed);
  const rest = scheme ? trimmed.slice(scheme[0].length) : trimmed;
  const host = rest.split(/[/?#]/, 1)[0] ?? '';
  if (!host || host.includes('@') || /\s/.test(host)) throw new TypeError('the registry key names no host');
  if (registryKey(host) === DOCKER_HUB_KEY) return { base: new URL(DOCKER_HUB_REGISTRY), plainHTTP: false };
  const plainHTTP = scheme?.[1]?.toLowerCase() === 'http';
  let base: URL;
  try {
    base = new URL(`${plainHTTP ? 'http' : 'https'}://${host}/`);
  } catch {
    throw new TypeError('the registry key names no valid host');
  }
  if (!base.hostname) throw new TypeError('the registry key names no host');
  return { base, plainHTTP };
}

/**
 * Checks the credentials against the registry. Resolves with an outcome for every answer and every
 * network failure; rejects only when `options.signal` aborts.
 */
export async function probeRegistry(target: ProbeTarget, options: ProbeOptions = {}): Promise<ProbeOutcome> {
  options.signal?.throwIfAborted();
  let endpoint: { base: URL; plainHTTP: boolean };
  try {
    endpoint = probeURL(target.server);
  } catch {
    return { server: target.server, result: 'Unexpected', message: 'the registry key is not a host name, host:port or URL' };
  }
  const plain = endpoint.plainHTTP ? { plainHTTP: true } : {};
  const caBundle = target.caBundle?.trim() ? target.caBundle : undefined;
  if (caBundle !== undefined && !caBundle.includes('-----BEGIN CERTIFICATE-----')) {
    return { server: target.server, result: 'Unexpected', message: 'the CA bundle holds no PEM certificate; nothing was sent', ...plain };
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const agents: Agents = {
    'http:': new HttpAgent({ keepAlive: true }),
    'https:': new HttpsAgent({
      keepAlive: true,
      rejectUnauthorized: !target.insecureSkipTLSVerify,
      // The roots a plain connection would trust (bundled, NODE_EXTRA_CA_CERTS, --use-system-ca) and the bundle.
      ...(caBundle !== undefined ? { ca: [...getCACertificates('default'), caBundle] } : {}),
    }),
  };
  const probe = new Probe(target, endpoint, agents, timeoutMs, options.signal);
  try {
    const { result, message } = await probe.run();
    return { server: target.server, result, message, ...plain };
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (err instanceof Failure) return { server: target.server, result: err.result, message: err.message, ...plain };
    return { server: target.server, result: 'Unexpected', message: `the probe failed: ${probe.describe(err)}`, ...plain };
  } finally {
    // Ends every connection, and with it any request still pending.
    for (const agent of Object.values(agents)) agent.destroy();
  }
}

/** One agent per scheme: the registry and its token service may differ (plain HTTP only for a plain-HTTP registry). */
type Agents = Record<'http:' | 'https:', HttpAgent>;

/** An outcome decided in the middle of the probe. */
class Failure extends Error {
  readonly result: RegistryResult;
  constructor(result: RegistryResult, message: string) {
    super(message);
    this.result = result;
  }
}

class ProbeTimeout extends Error {
  readonly code = 'PROBE_TIMEOUT';
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Only when asked for, at most TOKEN_RESPONSE_LIMIT bytes. */
  body?: Buffer;
  /** The body went past its limit and was cut off (a discarded one at DISCARD_LIMIT). */
  tooLarge?: boolean;
}

class Probe {
  private readonly target: ProbeTarget;
  private readonly endpoint: { base: URL; plainHTTP: boolean };
  private readonly agents: Agents;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly v2: URL;
  /** What no message may hold: the password, its Basic forms, and any token received. */
  private readonly secrets: string[];

  constructor(target: ProbeTarget, endpoint: { base: URL; plainHTTP: boolean }, agents: Agents, timeoutMs: number, signal: AbortSignal | undefined) {
    this.target = target;
    this.endpoint = endpoint;
    this.agents = agents;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.v2 = new URL('/v2/', endpoint.base);
    this.secrets = [target.password, basicAuth(target.username, target.password), Buffer.from(target.password, 'utf8').toString('base64')];
  }

  async run(): Promise<{ result: RegistryResult; message: string }> {
    const registry = this.endpoint.base.origin;
    const v2 = `${registry}/v2/`;
    const first = await this.send(this.v2, {}, v2);
    if (first.status === 200) {
      return { result: 'Valid', message: `${registry} allows anonymous access (GET /v2/ answered 200 without credentials), so the credentials were not checked` };
    }
    if (first.status !== 401) throw this.unexpectedStatus(first.status, v2);
    const challenges = parseWWWAuthenticate(first.headers['www-authenticate']);
    // As docker: token auth when the registry offers it, else Basic.
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) return this.bearer(bearer, registry, v2);
    if (challenges.some((c) => c.scheme === 'basic')) return this.basic(registry, v2);
    const schemes = [...new Set(challenges.map((c) => c.scheme))];
    throw new Failure(
      'Unexpected',
      schemes.length
        ? `HTTP 401 from ${v2} offers only unsupported auth schemes (${schemes.join(', ').slice(0, 80)}); nothing was sent`
        : `HTTP 401 from ${v2} without a Basic or Bearer challenge; nothing was sent`,
    );
  }

  private async basic(registry: string, v2: string): Promise<{ result: RegistryResult; message: string }> {
    const reply = await this.send(this.v2, { authorization: `Basic ${basicAuth(this.target.username, this.target.password)}` }, v2);
    const how = this.endpoint.plainHTTP ? 'Basic auth over plain HTTP' : 'Basic auth';
    if (reply.status === 200) return { result: 'Valid', message: `${registry} accepted the credentials (${how})` };
    if (reply.status === 401 || reply.status === 403) {
      return { result: 'Unauthorized', message: `HTTP ${reply.status} from ${v2}: the registry rejected the credentials (${how})` };
    }
    throw this.unexpectedStatus(reply.status, v2);
  }

  private async bearer(challenge: AuthChallenge, registry: string, v2: string): Promise<{ result: RegistryResult; message: string }> {
    const realmParam = challenge.params.realm;
    if (!realmParam) throw new Failure('Unexpected', `the Bearer challenge from ${v2} names no realm; nothing was sent`);
    let realm: URL;
    try {
      realm = new URL(realmParam, this.v2);
    } catch {
      throw new Failure('Unexpected', `the Bearer challenge from ${v2} names a realm that is not a URL; nothing was sent`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new Failure('Unexpected', `the Bearer challenge from ${v2} names a realm that is not an http(s) URL; nothing was sent`);
    }
    if (realm.protocol === 'http:' && !this.endpoint.plainHTTP) {
      throw new Failure('Unexpected', `the token service at ${display(realm)} is plain HTTP while the registry is HTTPS; the credentials were not sent`);
    }
    if (realm.username || realm.password) {
      throw new Failure('Unexpected', `the Bearer challenge from ${v2} names a realm with user information; nothing was sent`);
    }
    const service = challenge.params.service;
    const scope = challenge.params.scope;
    if (service) realm.searchParams.append('service', service);
    if (scope) realm.searchParams.append('scope', scope);
    if (this.target.username) realm.searchParams.append('account', this.target.username);
    const { token, service: tokenService } = await this.fetchToken(realm);
    const reply = await this.send(this.v2, { authorization: `Bearer ${token}` }, v2);
    if (reply.status === 200) {
      return { result: 'Valid', message: `${registry} accepted a token issued for the credentials by the token service at ${tokenService}` };
    }
    if (reply.status === 401 || reply.status === 403) {
      return { result: 'Unauthorized', message: `HTTP ${reply.status} from ${v2}: the registry rejected the token issued by the token service at ${tokenService}` };
    }
    throw this.unexpectedStatus(reply.status, v2);
  }

  /** Docker token auth: GET the realm with Basic credentials, following a few same-host redirects. */
  private async fetchToken(realm: URL): Promise<{ token: string; service: string }> {
    const authorization = `Basic ${basicAuth(this.target.username, this.target.password)}`;
    let url = realm;
    for (let redirects = 0; ; redirects++) {
      const where = `the token service at ${display(url)}`;
      const reply = await this.send(url, { authorization }, where, true);
      if (REDIRECTS.has(reply.status)) {
        if (redirects >= MAX_TOKEN_REDIRECTS) throw new Failure('Unexpected', `${where} redirected more than ${MAX_TOKEN_REDIRECTS} times`);
        url = this.redirectTarget(url, reply, where);
        continue;
      }
      if (reply.status === 401 || reply.status === 403) {
        throw new Failure('Unauthorized', `HTTP ${reply.status} from ${where}: it rejected the credentials`);
      }
      if (reply.status !== 200) throw this.unexpectedStatus(reply.status, where);
      if (reply.tooLarge) throw new Failure('Unexpected', `${where} answered with more than ${TOKEN_RESPONSE_LIMIT / (1 << 20)} MiB`);
      const token = tokenOf(reply.body);
      if (!token) throw new Failure('Unexpected', `${where} answered 200 without a usable token`);
      this.secrets.push(token);
      return { token, service: display(url) };
    }
  }

  private redirectTarget(from: URL, reply: Reply, where: string): URL {
    const location = first(reply.headers.location);
    let to: URL;
    try {
      if (!location) throw new TypeError('no Location');
      to = new URL(location, from);
    } catch {
      throw new Failure('Unexpected', `HTTP ${reply.status} from ${where} without a valid Location`);
    }
    const allowed = to.protocol === 'https:' || (to.protocol === 'http:' && this.endpoint.plainHTTP);
    if (!allowed) {
      throw new Failure('Unexpected', `${where} redirected to ${to.protocol === 'http:' ? 'plain HTTP' : 'a non-HTTPS URL'} (${display(to)}); the credentials were not sent there`);
    }
    if (to.hostname !== from.hostname || (to.protocol === from.protocol && to.port !== from.port) || to.username || to.password) {
      throw new Failure('Unexpected', `${where} redirected to another host (${display(to)}); the credentials were not sent there`);
    }
    return to;
  }

  private unexpectedStatus(status: number, where: string): Failure {
    const note = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
    return new Failure('Unexpected', `HTTP ${status} from ${where}${note}`);
  }

  /** One GET; the body is discarded unless asked for. Network failures become Failures naming `where`. */
  private async send(url: URL, headers: Record<string, string>, where: string, keepBody = false): Promise<Reply> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new ProbeTimeout()), this.timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, deadline.signal]) : deadline.signal;
    try {
      return await abortable(this.exchange(url, headers, keepBody, signal), signal);
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      if (deadline.signal.aborted || (err instanceof Error && err.name === 'TimeoutError')) {
        throw new Failure('Unreachable', `cannot reach ${where}: no complete answer within ${this.timeoutMs} ms`);
      }
      const { result, detail } = classifyNetworkError(err);
      if (result === 'TLSError') throw new Failure('TLSError', `TLS failure with ${where}: ${detail}`);
      if (result === 'Unreachable') throw new Failure('Unreachable', `cannot reach ${where}: ${detail}`);
      throw new Failure('Unexpected', `request to ${where} failed: ${this.describe(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The request and its body, bounded by an idle timeout and by `signal`. */
  private async exchange(url: URL, headers: Record<string, string>, keepBody: boolean, signal: AbortSignal): Promise<Reply> {
    const response = await open(url, {
      method: 'GET',
      headers: { 'user-agent': USER_AGENT, ...headers },
      idleTimeoutMs: this.timeoutMs,
      via: this.agents[url.protocol as keyof Agents],
      signal,
    });
    const reply: Reply = { status: response.status, headers: response.headers };
    // Read to the end (a stalled or broken body fails the request, as body.dump() would hide),
    // keeping only what was asked for, and stop at the limit.
    const limit = keepBody ? TOKEN_RESPONSE_LIMIT : DISCARD_LIMIT;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        reply.tooLarge = true;
        break; // ends the iteration and destroys the body
      }
      if (keepBody) chunks.push(chunk as Buffer);
    }
    if (keepBody && !reply.tooLarge) reply.body = Buffer.concat(chunks);
    return reply;
  }

  /** An unforeseen error in a few words: its class and code, and its message when that holds no secret. */
  describe(err: unknown): string {
    const { detail } = classifyNetworkError(err);
    const raw = err instanceof Error ? err.message.split('\n', 1)[0]!.trim() : '';
    const safe = raw && raw.length <= 160 && !this.secrets.some((s) => s.length > 0 && raw.includes(s)) && !/authorization|bearer|basic /i.test(raw);
    return safe ? `${detail}: ${raw}` : detail;
  }
}

/** A URL for messages: scheme, host and path, never user information or a query. */
function display(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Settles with `promise`, or rejects with the signal's reason as soon as it aborts, whatever the
 * request's own handling of the signal. A request left behind ends when the probe's agents are
 * destroyed.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `token`, else `access_token` (as docker reads a token response); only header-safe values. */
function tokenOf(body: Buffer | undefined): string | undefined {
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { token, access_token: accessToken } = parsed as { token?: unknown; access_token?: unknown };
  const value = typeof token === 'string' && token ? token : typeof accessToken === 'string' && accessToken ? accessToken : undefined;
  return value !== undefined && /^[\x21-\x7e]+$/.test(value) ? value : undefined;
}
