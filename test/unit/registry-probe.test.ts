// The registry probe against real registries in miniature: HTTP(S) servers on loopback, started
// here, with certificates from a test CA. Every outcome is checked to carry no secret.
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateCA, generateServingCertificate, type PemKeyPair } from '../../src/server/certs.ts';
import { classifyNetworkError } from '../../src/controller/validation/network-errors.ts';
import { probeRegistry, probeURL, type ProbeOptions, type ProbeOutcome, type ProbeTarget } from '../../src/controller/validation/probe.ts';
import { parseWWWAuthenticate } from '../../src/controller/validation/www-authenticate.ts';

const USER = 'robot$ci';
const PASSWORD = 's3cret-Pa55word!';
const WRONG = 'not-the-password-42';
const TOKEN = 'tok-4f1b2c9e8d7a6b5c4d3e2f1a0b9c8d7e';
const OTHER_TOKEN = 'tok-accepted-by-nobody-0123456789';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const SECRETS = [PASSWORD, WRONG, b64(`${USER}:${PASSWORD}`), b64(`${USER}:${WRONG}`), b64(PASSWORD), b64(WRONG), TOKEN, OTHER_TOKEN];

/** probeRegistry with a short default timeout; every message is one line and free of secrets. */
async function probe(target: Partial<ProbeTarget> & { server: string }, options: ProbeOptions = {}): Promise<ProbeOutcome> {
  const outcome = await probeRegistry({ username: USER, password: PASSWORD, ...target }, { timeoutMs: 3000, ...options });
  expect(outcome.server).toBe(target.server);
  expect(outcome.message).not.toMatch(/[\r\n]/);
  expect(outcome.message.length).toBeLessThan(300);
  for (const secret of SECRETS) expect(outcome.message).not.toContain(secret);
  expect(outcome.message).not.toMatch(/authorization|Basic [A-Za-z0-9+/]{12,}/i);
  return outcome;
}

// --- test servers --------------------------------------------------------------------------------

interface Recorded {
  url: string;
  headers: IncomingHttpHeaders;
}

interface TestServer {
  url: string;
  port: number;
  requests: Recorded[];
  server: Server;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function serve(handler: Handler, tls?: PemKeyPair): Promise<TestServer> {
  const requests: Recorded[] = [];
  const wrapped: Handler = (req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res);
  };
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, wrapped) : createHttpServer(wrapped);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, requests, server };
}

/** A TCP server that accepts connections and never says a word. */
async function silent(): Promise<{ port: number; accepted: () => number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const UNAUTHORIZED = { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] };

/** A registry/2.0 with Basic auth, as `registry:2` with htpasswd. */
const basicRegistry: Handler = (req, res) => {
  if (req.url !== '/v2/') return json(res, 404, {});
  if (req.headers.authorization === `Basic ${b64(`${USER}:${PASSWORD}`)}`) return json(res, 200, {});
  json(res, 401, UNAUTHORIZED, { 'www-authenticate': 'Basic realm="Registry Realm"' });
};

/** A registry that sends clients to `realm` for a token and accepts `accepted` only. */
function bearerRegistry(realm: string, accepted = TOKEN, challenge?: string): Handler {
  return (req, res) => {
    if (req.url !== '/v2/') return json(res, 404, {});
    if (req.headers.authorization === `Bearer ${accepted}`) return json(res, 200, {});
    json(res, 401, UNAUTHORIZED, {
      'www-authenticate': challenge ?? `Bearer realm="${realm}",service="registry.test",scope="repository:team/app:pull,push"`,
    });
  };
}

/** A Docker token service at /token that issues TOKEN for the right credentials. */
function tokenService(answer: (res: ServerResponse) => void = (res) => json(res, 200, { token: TOKEN, expires_in: 300 })): Handler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return json(res, 404, {});
    if (req.headers.authorization !== `Basic ${b64(`${USER}:${PASSWORD}`)}`) return json(res, 401, { details: 'incorrect username or password' });
    answer(res);
  };
}

let ca: PemKeyPair;
let otherCA: PemKeyPair;
let loopbackCert: PemKeyPair;
let mismatchCert: PemKeyPair;
let expiredCert: PemKeyPair;

beforeAll(async () => {
  ca = await generateCA({ commonName: 'registry-probe-test-ca' });
  otherCA = await generateCA({ commonName: 'some-other-ca' });
  loopbackCert = await generateServingCertificate({ commonName: 'registry', ipAddresses: ['127.0.0.1'], issuer: ca });
  mismatchCert = await generateServingCertificate({ commonName: 'registry', dnsNames: ['registry.example'], ipAddresses: ['10.9.8.7'], issuer: ca });
  const day = 24 * 3600_000;
  expiredCert = await generateServingCertificate({ commonName: 'registry', ipAddresses: ['127.0.0.1'], issuer: ca, now: new Date(Date.now() - 10 * day), validForMs: day });
});

// --- pure parts ----------------------------------------------------------------------------------

describe('probeURL', () => {
  const cases: Array<[string, string, boolean]> = [
    ['https://index.docker.io/v1/', 'https://registry-1.docker.io/', false],
    ['docker.io', 'https://registry-1.docker.io/', false],
    ['index.docker.io', 'https://registry-1.docker.io/', false],
    ['registry-1.docker.io', 'https://registry-1.docker.io/', false],
    ['https://Docker.IO/v2/', 'https://registry-1.docker.io/', false],
    ['http://index.docker.io/v1/', 'https://registry-1.docker.io/', false],
    ['docker.io/library', 'https://registry-1.docker.io/', false],
    ['ghcr.io', 'https://ghcr.io/', false],
    ['  GHCR.io  ', 'https://ghcr.io/', false],
    ['reg.example.com:5000/team', 'https://reg.example.com:5000/', false],
    ['reg.example.com:5000/team/sub/', 'https://reg.example.com:5000/', false],
    ['https://reg.example.com/v1/', 'https://reg.example.com/', false],
    ['https://reg.example.com:443', 'https://reg.example.com/', false],
    ['http://127.0.0.1:5000', 'http://127.0.0.1:5000/', true],
    ['HTTP://Reg.Example:8080/x?y#z', 'http://reg.example:8080/', true],
    ['http://reg.example:80', 'http://reg.example/', true],
    ['[::1]:5000', 'https://[::1]:5000/', false],
    ['reg.example.com?x=1', 'https://reg.example.com/', false],
  ];
  it.each(cases)('%s → %s', (server, base, plainHTTP) => {
    const got = probeURL(server);
    expect(got.base.href).toBe(base);
    expect(got.plainHTTP).toBe(plainHTTP);
  });

  it.each(['', '   ', 'http://', 'https:///v2/', 'user:pw@reg.example', 'https://user:pw@reg.example', 'reg example', 'reg.example:99999'])('rejects %j', (server) => {
    expect(() => probeURL(server)).toThrow(TypeError);
  });

  it('names no part of the key in its error', () => {
    expect(() => probeURL('user:hunter2@reg.example')).toThrow(/^the registry key names no/);
    try {
      probeURL('user:hunter2@reg.example');
    } catch (err) {
      expect(String(err)).not.toContain('hunter2');
    }
  });
});

describe('parseWWWAuthenticate', () => {
  it('reads a Basic challenge', () => {
    expect(parseWWWAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });

  it("reads Docker Hub's Bearer challenge, a comma inside a quoted scope included", () => {
    expect(
      parseWWWAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' } },
    ]);
  });

  it('lowers schemes and parameter names, keeps values, and takes tokens unquoted', () => {
    expect(parseWWWAuthenticate('BEARER Realm="https://Auth.Example/Token", SERVICE=Reg.Example')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://Auth.Example/Token', service: 'Reg.Example' } },
    ]);
  });

  it('splits several challenges in one header', () => {
    expect(parseWWWAuthenticate('Basic realm="a, b=c", Bearer realm="https://t.example/token", service="s",Negotiate')).toEqual([
      { scheme: 'basic', params: { realm: 'a, b=c' } },
      { scheme: 'bearer', params: { realm: 'https://t.example/token', service: 's' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });

  it('joins the challenges of several headers', () => {
    expect(parseWWWAuthenticate(['Basic realm="a"', 'Bearer realm="b",service="c"'])).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'b', service: 'c' } },
    ]);
  });

  it('unescapes quoted pairs', () => {
    expect(parseWWWAuthenticate('Bearer realm="say \\"hi\\", \\\\ok"')).toEqual([{ scheme: 'bearer', params: { realm: 'say "hi", \\ok' } }]);
  });

  it('reads token68 challenges', () => {
    expect(parseWWWAuthenticate('Negotiate YII+/w==, Basic realm="x"')).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'YII+/w==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    expect(parseWWWAuthenticate('NTLM abc=')).toEqual([{ scheme: 'ntlm', params: {}, token68: 'abc=' }]);
  });

  it('allows whitespace around "=", empty values, stray commas and missing commas', () => {
    expect(parseWWWAuthenticate(' ,Bearer  realm = "x" ,, service = y scope="" , Basic')).toEqual([
      { scheme: 'bearer', params: { realm: 'x', service: 'y', scope: '' } },
      { scheme: 'basic', params: {} },
    ]);
  });

  it('keeps the first of duplicate parameters and pollutes no prototype', () => {
    const [c] = parseWWWAuthenticate('Bearer realm="first", REALM="second", __proto__="p", constructor=c');
    expect(c!.params.realm).toBe('first');
    expect(Object.keys(c!.params)).toEqual(['realm', '__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it('survives malformed input', () => {
    expect(parseWWWAuthenticate(undefined)).toEqual([]);
    expect(parseWWWAuthenticate('')).toEqual([]);
    expect(parseWWWAuthenticate(',,, ,')).toEqual([]);
    expect(parseWWWAuthenticate('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
    expect(parseWWWAuthenticate('="x, y", Basic realm="r"')).toEqual([{ scheme: 'basic', params: { realm: 'r' } }]);
    expect(parseWWWAuthenticate('Bearer realm=')).toEqual([{ scheme: 'bearer', params: {}, token68: 'realm=' }]);
  });

  it('never throws, and reads back what a server writes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(Array.isArray(parseWWWAuthenticate(s))).toBe(true);
      }),
      { numRuns: 300 },
    );
    const tokenArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,8}$/);
    const challengeArb = fc.record({
      scheme: tokenArb,
      params: fc.uniqueArray(fc.tuple(tokenArb, fc.string({ maxLength: 12 })), { selector: ([k]) => k.toLowerCase(), maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(challengeArb, { minLength: 1, maxLength: 3 }), (challenges) => {
        const header = challenges
          .map((c) => `${c.scheme}${c.params.length ? ' ' : ''}${c.params.map(([k, v]) => `${k}="${v.replace(/["\\]/g, '\\$&')}"`).join(', ')}`)
          .join(', ');
        expect(parseWWWAuthenticate(header)).toEqual(
          challenges.map((c) => ({ scheme: c.scheme.toLowerCase(), params: Object.fromEntries(c.params.map(([k, v]) => [k.toLowerCase(), v])) })),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('classifyNetworkError', () => {
  const withCode = (code: string, props: Record<string, unknown> = {}) => Object.assign(new Error(`boom ${code}`), { code, ...props });

  it.each([
    ['ECONNREFUSED', 'Unreachable'],
    ['ENOTFOUND', 'Unreachable'],
    ['EAI_AGAIN', 'Unreachable'],
    ['ECONNRESET', 'Unreachable'],
    ['ETIMEDOUT', 'Unreachable'],
    ['UND_ERR_CONNECT_TIMEOUT', 'Unreachable'],
    ['UND_ERR_HEADERS_TIMEOUT', 'Unreachable'],
    ['UND_ERR_BODY_TIMEOUT', 'Unreachable'],
    ['UND_ERR_SOCKET', 'Unreachable'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'Unreachable'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'TLSError'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLSError'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'TLSError'],
    ['CERT_HAS_EXPIRED', 'TLSError'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLSError'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'TLSError'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'TLSError'],
    ['UND_ERR_INVALID_ARG', 'Unexpected'],
    ['HPE_INVALID_CONSTANT', 'Unexpected'],
  ])('%s → %s', (code, result) => {
    const got = classifyNetworkError(withCode(code));
    expect(got.result).toBe(result);
    if (result !== 'Unexpected') expect(got.detail).toContain(`(${code})`);
    expect(got.detail).not.toContain('boom');
  });

  it('looks through causes and AggregateErrors, TLS first', () => {
    const wrapped = new TypeError('fetch failed', { cause: new AggregateError([withCode('ECONNREFUSED'), withCode('ENETUNREACH')]) });
    expect(classifyNetworkError(wrapped)).toEqual({ result: 'Unreachable', detail: 'connection refused (ECONNREFUSED)' });
    const both = new AggregateError([withCode('ECONNRESET'), new Error('x', { cause: withCode('CERT_HAS_EXPIRED') })]);
    expect(classifyNetworkError(both)).toEqual({ result: 'TLSError', detail: 'certificate has expired (CERT_HAS_EXPIRED)' });
  });

  it("takes OpenSSL's short reason, never its long message", () => {
    const err = withCode('ERR_SSL_PACKET_LENGTH_TOO_LONG', { library: 'SSL routines', reason: 'packet length too long' });
    expect(classifyNetworkError(err).detail).toBe('TLS handshake failed: packet length too long (ERR_SSL_PACKET_LENGTH_TOO_LONG)');
    expect(classifyNetworkError(withCode('EPROTO', { library: 'SSL routines' })).result).toBe('TLSError');
  });

  it('survives odd throwables and cycles', () => {
    expect(classifyNetworkError('nope').result).toBe('Unexpected');
    expect(classifyNetworkError(undefined).result).toBe('Unexpected');
    const a: Error & { cause?: unknown } = new Error('a');
    a.cause = a;
    expect(classifyNetworkError(a)).toEqual({ result: 'Unexpected', detail: 'Error' });
  });
});

// --- against servers -----------------------------------------------------------------------------

describe('probeRegistry', () => {
  describe('Basic auth', () => {
    it('Valid for the right credentials, after an anonymous GET /v2/', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      const outcome = await probe({ server: `${registry.url}/team/app`, caBundle: ca.cert });
      expect(outcome).toEqual({ server: `${registry.url}/team/app`, result: 'Valid', message: `${registry.url} accepted the credentials (Basic auth)` });
      expect(registry.requests.map((r) => [r.url, r.headers.authorization])).toEqual([
        ['/v2/', undefined],
        ['/v2/', `Basic ${b64(`${USER}:${PASSWORD}`)}`],
      ]);
    });

    it('Unauthorized for a wrong password', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      const outcome = await probe({ server: registry.url, password: WRONG, caBundle: ca.cert });
      expect(outcome.result).toBe('Unauthorized');
      expect(outcome.message).toBe(`HTTP 401 from ${registry.url}/v2/: the registry rejected the credentials (Basic auth)`);
      expect(outcome.plainHTTP).toBeUndefined();
    });

    it('Unauthorized on 403 as well', async () => {
      const registry = await serve((req, res) => (req.headers.authorization ? json(res, 403, {}) : basicRegistry(req, res)), loopbackCert);
      expect((await probe({ server: registry.url, caBundle: ca.cert })).result).toBe('Unauthorized');
    });

    it('a plain-HTTP registry: Valid, and marked plainHTTP', async () => {
      const registry = await serve(basicRegistry);
      const outcome = await probe({ server: registry.url });
      expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(outcome).toEqual({ server: registry.url, result: 'Valid', message: `${registry.url} accepted the credentials (Basic auth over plain HTTP)`, plainHTTP: true });
    });

    it('a plain-HTTP registry with a wrong password: Unauthorized, still marked plainHTTP', async () => {
      const registry = await serve(basicRegistry);
      expect(await probe({ server: registry.url, password: WRONG })).toMatchObject({ result: 'Unauthorized', plainHTTP: true });
    });
  });

  describe('Bearer (Docker token) auth', () => {
    it('Valid: credentials to the realm with service, scope and account, then the token to /v2/', async () => {
      const tokens = await serve(tokenService(), loopbackCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toEqual({
        server: registry.url,
        result: 'Valid',
        message: `${registry.url} accepted a token issued for the credentials by the token service at ${tokens.url}/token`,
      });
      expect(tokens.requests).toHaveLength(1);
      const query = new URL(tokens.requests[0]!.url, 'https://x').searchParams;
      expect(Object.fromEntries(query)).toEqual({ service: 'registry.test', scope: 'repository:team/app:pull,push', account: USER });
      expect(tokens.requests[0]!.headers.authorization).toBe(`Basic ${b64(`${USER}:${PASSWORD}`)}`);
      expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, `Bearer ${TOKEN}`]);
    });

    it('Unauthorized when the token service refuses the password', async () => {
      const tokens = await serve(tokenService(), loopbackCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
      const outcome = await probe({ server: registry.url, password: WRONG, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'Unauthorized', message: `HTTP 401 from the token service at ${tokens.url}/token: it rejected the credentials` });
      expect(registry.requests).toHaveLength(1);
    });

    it('Unauthorized when the token service answers 403', async () => {
      const tokens = await serve((_req, res) => json(res, 403, {}), loopbackCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
      expect((await probe({ server: registry.url, caBundle: ca.cert })).message).toBe(`HTTP 403 from the token service at ${tokens.url}/token: it rejected the credentials`);
    });

    it('Unauthorized when the registry rejects the token', async () => {
      const tokens = await serve(tokenService(), loopbackCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token`, OTHER_TOKEN), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({
        result: 'Unauthorized',
        message: `HTTP 401 from ${registry.url}/v2/: the registry rejected the token issued by the token service at ${tokens.url}/token`,
      });
      expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, `Bearer ${TOKEN}`]);
    });

    it('takes access_token when there is no token, and keeps the query of the realm', async () => {
      const tokens = await serve(tokenService((res) => json(res, 200, { access_token: TOKEN })), loopbackCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token?client=x`, TOKEN, `bearer REALM="${tokens.url}/token?client=x"`), loopbackCert);
      expect((await probe({ server: registry.url, caBundle: ca.cert })).result).toBe('Valid');
      expect(Object.fromEntries(new URL(tokens.requests[0]!.url, 'https://x').searchParams)).toEqual({ client: 'x', account: USER });
    });

    it('prefers Bearer when both schemes are offered', async () => {
      const tokens = await serve(tokenService(), loopbackCert);
      const registry = await serve(bearerRegistry('', TOKEN, `Basic realm="r", Bearer realm="${tokens.url}/token",service="s"`), loopbackCert);
      expect((await probe({ server: registry.url, caBundle: ca.cert })).result).toBe('Valid');
      expect(tokens.requests).toHaveLength(1);
    });

    it('Unexpected when the token service answers without a token, with too much, or with 500', async () => {
      for (const [answer, message] of [
        [(res: ServerResponse) => json(res, 200, { expires_in: 60 }), 'answered 200 without a usable token'],
        [(res: ServerResponse) => res.writeHead(200).end('not json'), 'answered 200 without a usable token'],
        [(res: ServerResponse) => json(res, 200, { token: 'bad token\r\nx: y' }), 'answered 200 without a usable token'],
        [(res: ServerResponse) => res.writeHead(200).end(Buffer.alloc((1 << 20) + 10, 0x61)), 'answered with more than 1 MiB'],
        [(res: ServerResponse) => json(res, 500, {}), 'HTTP 500 from the token service at'],
      ] as const) {
        const tokens = await serve(tokenService(answer), loopbackCert);
        const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
        const outcome = await probe({ server: registry.url, caBundle: ca.cert });
        expect(outcome.result).toBe('Unexpected');
        expect(outcome.message).toContain(message);
        expect(registry.requests).toHaveLength(1);
      }
    });

    it('sends nothing to a plain-HTTP realm named by an HTTPS registry', async () => {
      const tokens = await serve(tokenService());
      const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toEqual({
        server: registry.url,
        result: 'Unexpected',
        message: `the token service at ${tokens.url}/token is plain HTTP while the registry is HTTPS; the credentials were not sent`,
      });
      expect(tokens.requests).toEqual([]);
      expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined]);
    });

    it('uses a plain-HTTP realm when the registry itself is plain HTTP', async () => {
      const tokens = await serve(tokenService());
      const registry = await serve(bearerRegistry(`${tokens.url}/token`));
      expect(await probe({ server: registry.url })).toMatchObject({ result: 'Valid', plainHTTP: true });
    });

    it('Unexpected for a challenge without a usable realm, sending nothing', async () => {
      for (const challenge of ['Bearer service="s"', 'Bearer realm="ftp://t.example/token"', 'Bearer realm="https://u:p@127.0.0.1:1/token"', 'Negotiate abc==', '']) {
        const registry = await serve(
          (req, res) => (req.headers.authorization ? json(res, 500, {}) : json(res, 401, {}, challenge ? { 'www-authenticate': challenge } : {})),
          loopbackCert,
        );
        const outcome = await probe({ server: registry.url, caBundle: ca.cert });
        expect(outcome.result).toBe('Unexpected');
        expect(outcome.message).toMatch(/nothing was sent$/);
        expect(registry.requests).toHaveLength(1);
      }
    });

    describe('redirects of the token service', () => {
      it('follows up to three on the same host over HTTPS', async () => {
        let hops = 0;
        const tokens = await serve((req, res) => {
          if (req.url?.startsWith('/hop')) {
            hops++;
            return res.writeHead(hops < 3 ? 302 : 307, { location: hops < 3 ? `/hop${hops}` : '/token' }).end();
          }
          tokenService()(req, res);
        }, loopbackCert);
        const registry = await serve(bearerRegistry(`${tokens.url}/hop0`), loopbackCert);
        expect((await probe({ server: registry.url, caBundle: ca.cert })).result).toBe('Valid');
        expect(tokens.requests.map((r) => r.url.split('?')[0])).toEqual(['/hop0', '/hop1', '/hop2', '/token']);
        expect(tokens.requests.every((r) => r.headers.authorization === `Basic ${b64(`${USER}:${PASSWORD}`)}`)).toBe(true);
      });

      it('not a fourth', async () => {
        const tokens = await serve((req, res) => res.writeHead(302, { location: `/loop${tokens.requests.length}` }).end(), loopbackCert);
        const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
        const outcome = await probe({ server: registry.url, caBundle: ca.cert });
        expect(outcome).toMatchObject({ result: 'Unexpected', message: `the token service at ${tokens.url}/loop3 redirected more than 3 times` });
        expect(tokens.requests).toHaveLength(4);
      });

      it('not to plain HTTP, nor to another host', async () => {
        const plain = await serve(tokenService());
        const elsewhere = await serve(tokenService(), loopbackCert);
        for (const [location, why] of [
          [`${plain.url}/token`, 'redirected to plain HTTP'],
          [`https://localhost:${elsewhere.port}/token`, 'redirected to another host'],
        ]) {
          const tokens = await serve((_req, res) => res.writeHead(302, { location }).end(), loopbackCert);
          const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
          const outcome = await probe({ server: registry.url, caBundle: ca.cert });
          expect(outcome.result).toBe('Unexpected');
          expect(outcome.message).toContain(why);
          expect(outcome.message).toContain('the credentials were not sent there');
        }
        expect(plain.requests).toEqual([]);
        expect(elsewhere.requests).toEqual([]);
      });
    });
  });

  describe('other answers', () => {
    it('Valid without checking when /v2/ is open to anyone', async () => {
      const registry = await serve((_req, res) => json(res, 200, {}), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome.result).toBe('Valid');
      expect(outcome.message).toMatch(/allows anonymous access.*credentials were not checked/);
      expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined]);
    });

    it('Unexpected for 500 and 404', async () => {
      for (const status of [500, 404]) {
        const registry = await serve((_req, res) => json(res, status, {}), loopbackCert);
        expect(await probe({ server: registry.url, caBundle: ca.cert })).toMatchObject({ result: 'Unexpected', message: `HTTP ${status} from ${registry.url}/v2/` });
      }
    });

    it('Unexpected for a redirect on /v2/, which is not followed', async () => {
      const target = await serve(basicRegistry, loopbackCert);
      const registry = await serve((_req, res) => res.writeHead(301, { location: `${target.url}/v2/` }).end(), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'Unexpected', message: `HTTP 301 from ${registry.url}/v2/ (redirects are not followed)` });
      expect(target.requests).toEqual([]);
    });

    it('Unexpected, with no request, for a key that names no host or a CA bundle without a certificate', async () => {
      expect(await probe({ server: 'https://' })).toMatchObject({ result: 'Unexpected', message: 'the registry key is not a host name, host:port or URL' });
      const registry = await serve(basicRegistry, loopbackCert);
      expect(await probe({ server: registry.url, caBundle: 'not a certificate' })).toMatchObject({ result: 'Unexpected' });
      expect(registry.requests).toEqual([]);
    });
  });

  describe('network failures', () => {
    it('Unreachable for a closed port', async () => {
      const port = await closedPort();
      const outcome = await probe({ server: `127.0.0.1:${port}` });
      expect(outcome).toEqual({
        server: `127.0.0.1:${port}`,
        result: 'Unreachable',
        message: `cannot reach https://127.0.0.1:${port}/v2/: connection refused (ECONNREFUSED)`,
      });
    });

    it('Unreachable when the token service is down', async () => {
      const port = await closedPort();
      const registry = await serve(bearerRegistry(`https://127.0.0.1:${port}/token`), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'Unreachable', message: `cannot reach the token service at https://127.0.0.1:${port}/token: connection refused (ECONNREFUSED)` });
    });

    it('Unreachable within the timeout when an HTTP server never answers', async () => {
      const registry = await serve(() => undefined);
      const start = performance.now();
      const outcome = await probe({ server: registry.url }, { timeoutMs: 150 });
      expect(performance.now() - start).toBeLessThan(900);
      expect(outcome).toMatchObject({ result: 'Unreachable', plainHTTP: true });
      expect(outcome.message).toMatch(new RegExp(`^cannot reach ${registry.url}/v2/: `));
    });

    it('Unreachable within the timeout when a TLS handshake never completes', async () => {
      const server = await silent();
      const start = performance.now();
      const outcome = await probe({ server: `127.0.0.1:${server.port}` }, { timeoutMs: 150 });
      // undici itself would let a connect run on to its next timer tick (a second); the probe does not.
      expect(performance.now() - start).toBeLessThan(900);
      expect(outcome.result).toBe('Unreachable');
      expect(server.accepted()).toBe(1);
    });

    it('Unreachable within the timeout when a body stalls', async () => {
      const registry = await serve((_req, res) => {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"', 'content-length': '100' });
        res.write('{"errors":');
      });
      const start = performance.now();
      const outcome = await probe({ server: registry.url }, { timeoutMs: 150 });
      expect(performance.now() - start).toBeLessThan(900);
      expect(outcome.result).toBe('Unreachable');
    });

    it('Unreachable when the connection is reset', async () => {
      const registry = await serve((req) => req.socket.destroy());
      expect((await probe({ server: registry.url })).result).toBe('Unreachable');
    });

    it('rejects with the reason when the signal aborts, and sends nothing when it already has', async () => {
      const registry = await serve(() => undefined);
      const controller = new AbortController();
      const reason = new Error('shutting down');
      setTimeout(() => controller.abort(reason), 50);
      await expect(probeRegistry({ server: registry.url, username: USER, password: PASSWORD }, { signal: controller.signal })).rejects.toBe(reason);
      const before = registry.requests.length;
      await expect(probeRegistry({ server: registry.url, username: USER, password: PASSWORD }, { signal: controller.signal })).rejects.toBe(reason);
      expect(registry.requests.length).toBe(before);
    });

    it('closes its connections when it ends', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      expect((await probe({ server: registry.url, caBundle: ca.cert })).result).toBe('Valid');
      await vi.waitFor(async () => {
        const open = await new Promise<number>((resolve, reject) => registry.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
        expect(open).toBe(0);
      });
    });
  });

  describe('TLS', () => {
    it('TLSError for a certificate from an unknown CA', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      const outcome = await probe({ server: registry.url });
      expect(outcome).toEqual({
        server: registry.url,
        result: 'TLSError',
        message: `TLS failure with ${registry.url}/v2/: certificate signed by an unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
      });
      expect(registry.requests).toEqual([]);
    });

    it('TLSError with a CA bundle of another CA', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      expect((await probe({ server: registry.url, caBundle: otherCA.cert })).result).toBe('TLSError');
    });

    it('Valid with the CA in the bundle (among other certificates)', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      expect((await probe({ server: registry.url, caBundle: `${otherCA.cert}\n${ca.cert}` })).result).toBe('Valid');
    });

    it('Valid with insecureSkipTLSVerify, the unknown CA notwithstanding', async () => {
      const registry = await serve(basicRegistry, loopbackCert);
      expect((await probe({ server: registry.url, insecureSkipTLSVerify: true })).result).toBe('Valid');
    });

    it('TLSError for a certificate of another host name', async () => {
      const registry = await serve(basicRegistry, mismatchCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'TLSError', message: `TLS failure with ${registry.url}/v2/: certificate does not match the host name (ERR_TLS_CERT_ALTNAME_INVALID)` });
    });

    it('TLSError for an expired certificate', async () => {
      const registry = await serve(basicRegistry, expiredCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'TLSError', message: `TLS failure with ${registry.url}/v2/: certificate has expired (CERT_HAS_EXPIRED)` });
    });

    it('TLSError when the token service fails verification', async () => {
      const tokens = await serve(tokenService(), mismatchCert);
      const registry = await serve(bearerRegistry(`${tokens.url}/token`), loopbackCert);
      const outcome = await probe({ server: registry.url, caBundle: ca.cert });
      expect(outcome).toMatchObject({ result: 'TLSError', message: `TLS failure with the token service at ${tokens.url}/token: certificate does not match the host name (ERR_TLS_CERT_ALTNAME_INVALID)` });
      expect(tokens.requests).toEqual([]);
    });

    it('TLSError when HTTPS meets a plain-HTTP server', async () => {
      const registry = await serve(basicRegistry);
      const outcome = await probe({ server: `127.0.0.1:${registry.port}` });
      expect(outcome.result).toBe('TLSError');
      expect(outcome.message).toMatch(/^TLS failure with https:\/\/127\.0\.0\.1:\d+\/v2\/: TLS handshake failed/);
      expect(registry.requests).toEqual([]);
    });
  });
});
