// A real container registry for tests: Debian's docker-registry (distribution 2.8) on loopback,
// with TLS from a test CA and either htpasswd auth or token auth.
//
// Token auth runs against a real token server: distribution's own contrib/token-server (same
// release as the registry), built from the Go module proxy by test/tools/install-registry-tools.sh.
// cesanta/docker_auth was the first choice, but the module proxy reachable here refuses it (403).
// The token server checks Basic credentials against the same htpasswd file as the registry would,
// and signs ES256 JWTs with a key whose self-signed certificate is the registry's rootcertbundle
// (it sends the public key as a `jwk` header, which distribution trusts when it is the key of a
// bundle certificate). It grants repository access only below `<user>/`: push to `alice/…`.
//
// Both processes re-read the htpasswd file when its modification time changes (distribution 2.8's
// htpasswd access controller does), so setPassword only rewrites it: no restart.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { generateCA, generateServingCertificate } from '../../src/server/certs.ts';

export interface TestRegistryOptions {
  auth: 'htpasswd' | 'token';
  /** User name → password. */
  users: Record<string, string>;
  /** Serve HTTPS with a certificate from a test CA (default); plain HTTP otherwise. */
  tls?: boolean;
}

const REGISTRY_BIN = 'docker-registry';
const INSTALL_SCRIPT = fileURLToPath(new URL('../tools/install-registry-tools.sh', import.meta.url));
const SERVICE = 'regcred-test-registry';
const ISSUER = 'regcred-test-token-server';
const READY_TIMEOUT_MS = 30_000;

/** Processes still running, ended if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class TestRegistry {
  /** `127.0.0.1:PORT`, as written in a RegistryCredential's `server` and in image references. */
  readonly host: string;
  readonly port: number;
  readonly auth: 'htpasswd' | 'token';
  readonly tls: boolean;
  /** The test CA's certificate (PEM) that the registry's and the token server's certificates chain to. */
  readonly caPem: string;
  /** A folder holding the CA as ca.crt, for skopeo's --cert-dir / --dest-cert-dir. */
  readonly caDir: string;
  /** The token endpoint (token auth only). */
  readonly realm: string | undefined;
  /** The registry's (0700) working folder: config, htpasswd, keys, storage, logs. */
  readonly dir: string;
  private readonly tokenPort: number | undefined;
  private readonly users: Map<string, string>;
  private registry: ChildProcess | undefined;
  private tokenServer: ChildProcess | undefined;
  private tokenServerBin: string | undefined;

  private constructor(init: { dir: string; port: number; tokenPort: number | undefined; auth: 'htpasswd' | 'token'; tls: boolean; caPem: string; users: Record<string, string> }) {
    this.dir = init.dir;
    this.port = init.port;
    this.host = `127.0.0.1:${init.port}`;
    this.tokenPort = init.tokenPort;
    this.auth = init.auth;
    this.tls = init.tls;
    this.caPem = init.caPem;
    this.caDir = join(init.dir, 'ca');
    this.users = new Map(Object.entries(init.users));
    this.realm = init.tokenPort === undefined ? undefined : `${init.tls ? 'https' : 'http'}://127.0.0.1:${init.tokenPort}/token/`;
  }

  static async start(options: TestRegistryOptions): Promise<TestRegistry> {
    requireBinary(REGISTRY_BIN);
    const tokenServerBin = options.auth === 'token' ? await buildTokenServer() : undefined;
    const tls = options.tls ?? true;
    const dir = mkdtempSync(join(tmpdir(), 'regcred-registry-'));
    const ca = await generateCA({ commonName: 'regcred test registry CA' });
    const reg = new TestRegistry({
      dir, tls, caPem: ca.cert, users: options.users, auth: options.auth,
      port: await freePort(),
      tokenPort: options.auth === 'token' ? await freePort() : undefined,
    });
    mkdirSync(reg.caDir, { mode: 0o700 });
    writeFileSync(join(reg.caDir, 'ca.crt'), ca.cert);
    const serving = await generateServingCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], issuer: ca });
    writeFileSync(join(dir, 'tls.crt'), serving.cert);
    writeFileSync(join(dir, 'tls.key'), serving.key, { mode: 0o600 });
    reg.writeHtpasswd();

    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(dir, 'storage') }, delete: { enabled: true } },
      http: {
        addr: reg.host,
        secret: randomBytes(16).toString('hex'),
        ...(tls ? { tls: { certificate: join(dir, 'tls.crt'), key: join(dir, 'tls.key') } } : {}),
      },
    };
    if (options.auth === 'htpasswd') {
      config.auth = { htpasswd: { realm: 'regcred-test', path: join(dir, 'htpasswd') } };
    } else {
      // The token signing key and its self-signed certificate: the certificate is the whole
      // rootcertbundle, so the registry trusts tokens carrying this key (as `jwk`) and no other.
      const signing = await generateCA({ commonName: 'regcred test token signer' });
      writeFileSync(join(dir, 'token-signing.crt'), signing.cert);
      // libtrust (the token server's key loader) reads SEC1 "EC PRIVATE KEY" PEM, not PKCS#8.
      writeFileSync(join(dir, 'token-signing.key'), createPrivateKey(signing.key).export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
      config.auth = { token: { realm: reg.realm, service: SERVICE, issuer: ISSUER, rootcertbundle: join(dir, 'token-signing.crt') } };
    }
    writeFileSync(join(dir, 'config.yml'), stringify(config));
    reg.tokenServerBin = tokenServerBin;
    try {
      await reg.start();
    } catch (err) {
      await reg.dispose();
      throw err;
    }
    return reg;
  }

  /** (Re)starts the registry (and token server) on the same ports with the same storage, and waits until it answers. */
  async start(): Promise<void> {
    if (this.tokenServerBin && !this.tokenServer) {
      this.tokenServer = this.spawnLogged('token-server', this.tokenServerBin, [
        '-addr', `127.0.0.1:${this.tokenPort}`,
        '-issuer', ISSUER,
        '-key', join(this.dir, 'token-signing.key'),
        '-passwd', join(this.dir, 'htpasswd'),
        '-realm', 'regcred-test',
        ...(this.tls ? ['-tlscert', join(this.dir, 'tls.crt'), '-tlskey', join(this.dir, 'tls.key')] : []),
      ]);
      await this.waitForUnauthorized(this.tokenServer, 'token-server', `127.0.0.1:${this.tokenPort}`, '/token/');
    }
    if (!this.registry) {
      this.registry = this.spawnLogged('registry', REGISTRY_BIN, ['serve', join(this.dir, 'config.yml')]);
      await this.waitForUnauthorized(this.registry, 'registry', this.host, '/v2/');
    }
  }

  /** Stops the registry and the token server (the port stays this registry's: start() reuses it). */
  async stop(): Promise<void> {
    await Promise.all([stopChild(this.registry), stopChild(this.tokenServer)]);
    this.registry = undefined;
    this.tokenServer = undefined;
  }

  /** Stops everything and removes the working folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sets (or adds) a user's password: rewrites the htpasswd file, which both servers re-read on their next request. */
  async setPassword(user: string, password: string): Promise<void> {
    this.users.set(user, password);
    this.writeHtpasswd();
  }

  /** The registry's WWW-Authenticate challenge on GET /v2/ without credentials (Basic … or Bearer realm=…). */
  async challenge(): Promise<string> {
    const res = await get(this.host, '/v2/', this.tls ? this.caPem : undefined);
    return res.challenge ?? '';
  }

  /** The last lines of a process's log (registry or token-server), for failure messages. */
  logTail(name: 'registry' | 'token-server', lines = 30): string {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private writeHtpasswd(): void {
    const path = join(this.dir, 'htpasswd');
    const previous = (() => {
      try {
        return statSync(path).mtimeMs;
      } catch {
        return undefined;
      }
    })();
    // Cost 5 keeps start-up fast; distribution accepts any bcrypt cost.
    const text = [...this.users].map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}\n`).join('');
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    // The servers reload when the modification time differs from the one they last read: make sure
    // it does even when two writes fall in one tick of the file system's clock.
    if (previous !== undefined && statSync(tmp).mtimeMs <= previous) {
      const next = new Date(previous + 1000);
      utimesSync(tmp, next, next);
    }
    renameSync(tmp, path);
  }

  private spawnLogged(name: string, bin: string, args: string[]): ChildProcess {
    const fd = openSync(join(this.dir, `${name}.log`), 'a', 0o600);
    // REGISTRY_* variables would override the config file.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    const child = spawn(bin, args, { cwd: this.dir, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    live.add(child);
    child.once('exit', () => live.delete(child));
    return child;
  }

  /** Polls GET path until the server answers 401 (it is up, and it asks for credentials). */
  private async waitForUnauthorized(child: ChildProcess, name: 'registry' | 'token-server', host: string, path: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last: string;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.logTail(name)}`);
      }
      try {
        const { status } = await get(host, path, this.tls ? this.caPem : undefined);
        if (status === 401) return;
        last = `HTTP ${status}`;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`${name} on ${host} not ready within ${READY_TIMEOUT_MS} ms (${last}):\n${this.logTail(name)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function get(host: string, path: string, ca: string | undefined): Promise<{ status: number; challenge: string | undefined }> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const options = { hostname, port: Number(port), path, method: 'GET', timeout: 2000, ...(ca ? { ca } : {}) };
    const req = (ca ? request : httpRequest)(options, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A port free on loopback right now (the registry binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function requireBinary(bin: string): void {
  const path = (process.env.PATH ?? '').split(':').map((d) => join(d, bin));
  if (!path.some((p) => { try { return statSync(p).isFile(); } catch { return false; } })) {
    throw new Error(`${bin} is not installed: run \`make registry-tools\` (bash ${INSTALL_SCRIPT}) first`);
  }
}

let tokenServerPath: Promise<string> | undefined;

/** distribution's token server, built once into the tools cache (fast when it is there already). */
function buildTokenServer(): Promise<string> {
  tokenServerPath ??= promisify(execFile)('bash', [INSTALL_SCRIPT, '--token-server'], { encoding: 'utf8', timeout: 600_000 })
    .then(({ stdout }) => stdout.trim().split('\n').pop() ?? '')
    .catch((err: unknown) => {
      tokenServerPath = undefined;
      throw new Error(`building the token server failed: ${String(err)}`);
    });
  return tokenServerPath;
}
