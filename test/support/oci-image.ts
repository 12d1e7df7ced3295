// A tiny OCI image made here (node:crypto and node:zlib only), pushed to a TestRegistry and
// inspected with Debian's skopeo: the real-client half of the registry tests.
//
// Credentials never go on a command line (where `ps` and error messages would show them): skopeo
// reads them from auth files, each in its own 0700 temporary folder.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { TestRegistry } from './registry.ts';

const SKOPEO = 'skopeo';
const TIMEOUT_MS = 60_000;

export interface OciImage {
  /** The OCI image layout folder (oci:<dir>:<tag>). */
  dir: string;
  tag: string;
  /** sha256:… of the manifest, as the registry reports it after a push. */
  manifestDigest: string;
}

export interface SkopeoResult {
  ok: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix)); // mkdtemp makes it 0700
  tempDirs.add(dir);
  return dir;
}

/** Removes every image layout and auth file this module made. */
export function cleanupImagesAndAuthfiles(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * A minimal OCI image layout: oci-layout, index.json (the manifest under `tag`), and three blobs: a
 * gzipped tar layer holding one small file, the image config, and the manifest.
 */
export function buildOciImage(tag = 'v1', content = `hello from regcred-operator's tests\n`): OciImage {
  const dir = tempDir('regcred-oci-');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer, mediaType: string) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  };
  const tar = tarOf('hello.txt', Buffer.from(content));
  const layer = put(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = put(Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(tar).digest('hex')}`] },
    history: [{ created_by: 'regcred-operator test/support/oci-image.ts' }],
  })), 'application/vnd.oci.image.config.v1+json');
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [layer],
  })), 'application/vnd.oci.image.manifest.v1+json');
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { dir, tag, manifestDigest: manifest.digest };
}

/** A ustar archive with one regular file (mode 0644, owned by root, mtime 0). */
function tarOf(name: string, body: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(body.length, 12));
  field(136, 12, octal(0, 12));
  field(148, 8, '        '); // the checksum counts its own field as spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  field(265, 32, 'root');
  field(297, 32, 'root');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding, Buffer.alloc(1024)]);
}

/** Writes `content` (a .dockerconfigjson, or any auth.json) to a 0600 file in a fresh 0700 folder; returns its path. */
export function writeAuthfile(content: string | Buffer): string {
  const file = join(tempDir('regcred-auth-'), 'auth.json');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/** An auth file for one registry and user, as `docker login` would write it. */
export function authfileFor(registry: TestRegistry, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  return writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth } } }));
}

/**
 * Pushes an image (by default a fresh minimal one tagged as `ref`'s tag) to `repo:tag` on the
 * registry with skopeo copy. With token auth the token server grants pushes only below `<username>/`.
 */
export async function pushImage(registry: TestRegistry, ref: string, username: string, password: string, image?: OciImage): Promise<OciImage> {
  const tag = ref.includes(':') ? ref.slice(ref.lastIndexOf(':') + 1) : 'latest';
  const img = image ?? buildOciImage(tag);
  const dir = tempDir('regcred-policy-');
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const result = await skopeo([
    '--policy', policy,
    'copy', '--retry-times', '0',
    '--dest-authfile', authfileFor(registry, username, password),
    ...(registry.tls ? ['--dest-cert-dir', registry.caDir] : ['--dest-tls-verify=false']),
    `oci:${img.dir}:${img.tag}`,
    `docker://${registry.host}/${ref.includes(':') ? ref : `${ref}:${tag}`}`,
  ]);
  if (!result.ok) throw new Error(`skopeo copy to ${registry.host}/${ref} failed (${result.code}): ${result.stderr}`);
  return img;
}

/** skopeo inspect of `ref` (repo:tag) on the registry with the given auth file. */
export function inspect(registry: TestRegistry, ref: string, authfile: string): Promise<SkopeoResult> {
  return skopeo([
    'inspect', '--retry-times', '0',
    '--authfile', authfile,
    ...(registry.tls ? ['--cert-dir', registry.caDir] : ['--tls-verify=false']),
    `docker://${registry.host}/${ref}`,
  ]);
}

function skopeo(args: string[]): Promise<SkopeoResult> {
  // Only the auth file given on the command line: no REGISTRY_AUTH_FILE, no user's ~/.docker.
  const home = tempDir('regcred-skopeo-home-');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config') };
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${SKOPEO} (install it with \`make registry-tools\`): ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      tempDirs.delete(home);
      resolve({ ok: code === 0, code, stdout, stderr });
    });
  });
}
