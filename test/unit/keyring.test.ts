// The pull secrets the operator renders, as kubelet reads them: test/controlplane/keyring (built by
// test/tools/build-keyring.sh from the control plane's k8s.io/kubernetes module) builds kubelet's
// keyring from them as a pod's imagePullSecrets and answers which credentials kubelet would send
// for an image, in the order it would try them.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RegistryEntry } from '../../src/api/schema.ts';
import { Digest } from '../../src/controller/digest.ts';
import { DOCKER_HUB_KEY, renderDockerConfig } from '../../src/controller/dockerconfig.ts';
import { resolveEntries, type SourceInputs, type SourceSecret } from '../../src/controller/sources.ts';
import { loadSample } from '../support/samples.ts';

/** Runs a build script (quietly when its output is cached) and returns the last line it prints. */
function toolPath(script: string): string {
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const last = out.trim().split('\n').at(-1);
  if (!last) throw new Error(`${script} printed nothing`);
  return last;
}

interface PullSecret {
  name: string;
  dockerconfigjson: string;
}

interface Credential {
  username: string;
  server?: string;
  secret?: string;
}

interface LookupResult {
  image: string;
  repo?: string;
  credentials: Credential[];
  error?: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const digest = Digest.random();
const PASSWORD = 'change-me';
const EXTRA_PASSWORD = 'Extra-Pa55-not-printed';

let keyring: string;

/** kubelet's answer for each image, with `secrets` as the pod's imagePullSecrets in this order. */
function lookup(secrets: PullSecret[], images: string[]): Map<string, LookupResult> {
  const out = execFileSync(keyring, { input: JSON.stringify({ secrets, images }), encoding: 'utf8' });
  expect(out).not.toContain(PASSWORD);
  expect(out).not.toContain(EXTRA_PASSWORD);
  const results = (JSON.parse(out) as { results: LookupResult[] }).results;
  return new Map(results.map((r) => [r.image, r]));
}

/** "secret:username" for each credential kubelet would try, in order. */
const chosen = (r: LookupResult | undefined): string[] => {
  if (!r) throw new Error('no result');
  if (r.error) throw new Error(r.error);
  return r.credentials.map((c) => `${c.secret ?? '?'}:${c.username}`);
};

function inputs(secrets: Record<string, SourceSecret>, credential: string): SourceInputs {
  return { secret: (name) => secrets[name], credentialsNamespace: 'regcred-system', credential };
}

/** The pull secret the operator renders for a RegistryCredential, through its own resolve and render code. */
function render(secretName: string, entries: RegistryEntry[], secrets: Record<string, SourceSecret>, credential: string): PullSecret {
  const resolved = resolveEntries(entries, inputs(secrets, credential));
  if (!resolved.ok) throw new Error(resolved.message);
  const rendered = renderDockerConfig(resolved.entries, digest);
  expect(rendered.shadowed).toEqual([]);
  return { name: secretName, dockerconfigjson: rendered.bytes.toString('utf8') };
}

/** The pull secret a sample file's RegistryCredential renders, from the sample's own source Secrets. */
function renderSample(file: string): PullSecret {
  const sample = loadSample(file);
  return render(sample.spec.secretName, sample.spec.registries, sample.secrets, sample.name);
}

const EXTRA_SOURCES: Record<string, SourceSecret> = {
  'extra-password': { metadata: { labels: { 'regcred.dev/source': 'true' } }, type: 'Opaque', data: { password: b64(EXTRA_PASSWORD) } },
};
const PASSWORD_FROM = { secretKeyRef: { name: 'extra-password', key: 'password' } };
const entry = (server: string, username: string): RegistryEntry => ({ server, username, passwordFrom: PASSWORD_FROM });

/** A single-entry pull secret named `probe` for the given server spelling. */
const probe = (server: string, username = 'probe-user'): PullSecret => render('probe', [entry(server, username)], EXTRA_SOURCES, 'extra');

// A pod's imagePullSecrets: the two samples' Secrets (regcred: private-registry.io; pull-secrets:
// Docker Hub and ghcr.io) and one more with a port, two paths on one host, and gcr.io.
const SECRETS = (): PullSecret[] => [
  renderSample('config/samples/private-registry.yaml'),
  renderSample('config/samples/dockerhub-and-ghcr.yaml'),
  render('extra', [
    entry('host:5000', 'port-robot'),
    entry('registry.example.com/team-a', 'team-a-robot'),
    entry('registry.example.com/team-b', 'team-b-robot'),
    entry('gcr.io', 'gcr-robot'),
  ], EXTRA_SOURCES, 'extra'),
];

const HUB = ['pull-secrets:acme-robot'];
const NONE: string[] = [];

const TABLE: Array<[string, string[]]> = [
  // The seed's images.
  ['nginx', HUB],
  ['library/nginx', HUB],
  ['docker.io/nginx', HUB],
  ['private-registry.io/apps/internal-app', ['regcred:registry-user']],
  ['private-registry.io/apps/internal-app:v1.2.3', ['regcred:registry-user']],
  ['gcr.io/kubernetes-e2e-test-images/dnsutils', ['extra:gcr-robot']],
  ['gcr.io/kubernetes-e2e-test-images/dnsutils:1.3', ['extra:gcr-robot']],
  ['host:5000/team/app', ['extra:port-robot']],
  ['registry.example.com/team-a/app', ['extra:team-a-robot']],
  ['registry.example.com/team-b/app', ['extra:team-b-robot']],
  ['registry.example.com/team-a/nested/app:v1', ['extra:team-a-robot']],
  ['ghcr.io/acme/app', ['pull-secrets:acme-bot']],
  // A Docker Hub user's repository, and a first part with neither "." nor ":" (a Docker Hub user, not a host).
  ['acme/app', HUB],
  ['host/team/app', HUB],
  // Nothing for registries, paths and ports that no entry names.
  ['registry.example.com/team-c/app', NONE],
  ['registry.example.com/app', NONE],
  ['host:5001/team/app', NONE],
  ['evilprivate-registry.io/x', NONE],
  ['private-registry.io.evil.com/x', NONE],
  ['sub.private-registry.io/x', NONE],
  ['private-registry.io:5000/apps/internal-app', NONE],
  ['ghcr.io.evil.com/acme/app', NONE],
  ['evilgcr.io/x', NONE],
  ['quay.io/acme/app', NONE],
  ['docker.io.evil.com/library/nginx', NONE],
  ['index.docker.io.evil.com/library/nginx', NONE],
];

/** Every spelling of a Docker Hub image, all of which kubelet pulls from docker.io/library/nginx. */
const DOCKER_HUB_SPELLINGS = [
  'nginx',
  'nginx:1.27',
  'nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000',
  'library/nginx',
  'docker.io/nginx',
  'docker.io/library/nginx',
  'index.docker.io/library/nginx',
  'index.docker.io/nginx',
];

let table: Map<string, LookupResult>;

beforeAll(() => {
  keyring = toolPath('test/tools/build-keyring.sh');
  table = lookup(SECRETS(), [...TABLE.map(([image]) => image), ...DOCKER_HUB_SPELLINGS]);
}, 900_000);

describe("kubelet's keyring over the rendered pull secrets", () => {
  it('the samples render Docker Hub under its legacy key', () => {
    const hub = SECRETS().find((s) => s.name === 'pull-secrets')!;
    expect(Object.keys((JSON.parse(hub.dockerconfigjson) as { auths: object }).auths).sort()).toEqual(['ghcr.io', DOCKER_HUB_KEY]);
  });

  it.each(TABLE)('%s → %j', (image, expected) => {
    expect(chosen(table.get(image))).toEqual(expected);
  });

  it('every Docker Hub spelling resolves to the credential written under https://index.docker.io/v1/', () => {
    const answers = DOCKER_HUB_SPELLINGS.map((image) => [image, table.get(image)?.repo, chosen(table.get(image))]);
    expect(answers).toEqual(DOCKER_HUB_SPELLINGS.map((image) => [image, 'docker.io/library/nginx', HUB]));
  });
});

describe('server spellings: each key registryKey writes is one kubelet matches', () => {
  // [server as written in the spec, an image it is meant for, an image it must not serve]
  it.each<[string, string, string]>([
    ['private-registry.io', 'private-registry.io/apps/internal-app', 'ghcr.io/acme/app'],
    ['https://private-registry.io', 'private-registry.io/apps/internal-app', 'ghcr.io/acme/app'],
    ['https://private-registry.io/', 'private-registry.io/apps/internal-app', 'ghcr.io/acme/app'],
    ['http://private-registry.io', 'private-registry.io/apps/internal-app', 'ghcr.io/acme/app'],
    ['Private-Registry.IO', 'private-registry.io/apps/internal-app', 'ghcr.io/acme/app'],
    ['host:5000', 'host:5000/team/app', 'host:5001/team/app'],
    ['https://host:5000/', 'host:5000/team/app', 'host:5001/team/app'],
    ['registry.example.com/team-a/', 'registry.example.com/team-a/app', 'registry.example.com/team-b/app'],
    ['https://registry.example.com/team-a', 'registry.example.com/team-a/app', 'registry.example.com/team-b/app'],
    ['docker.io', 'nginx', 'ghcr.io/acme/app'],
    ['index.docker.io', 'library/nginx', 'ghcr.io/acme/app'],
    ['registry-1.docker.io', 'docker.io/nginx', 'ghcr.io/acme/app'],
    ['https://index.docker.io/v1/', 'index.docker.io/library/nginx', 'ghcr.io/acme/app'],
    ['https://registry-1.docker.io/v2/', 'nginx', 'ghcr.io/acme/app'],
    ['docker.io/acme', 'acme/app', 'nginx'],
    ['https://docker.io/acme/', 'docker.io/acme/app', 'other/app'],
  ])('%s serves %s and not %s', (server, meant, notMeant) => {
    const r = lookup([probe(server)], [meant, notMeant]);
    expect([chosen(r.get(meant)), chosen(r.get(notMeant))]).toEqual([['probe:probe-user'], []]);
  });

  // kubelet treats "host/v2/" as the whole host but "host/v2" as the repository path prefix "/v2",
  // so registryKey writes such keys as the bare host, also for a dockerConfigFrom source. A Docker
  // Hub host other than docker.io with a repository path is written under docker.io: kubelet looks
  // up docker.io/<repo>, and its host-part count must equal the key's.
  it.each<[string, string]>([
    ['https://private-registry.io/v2/', 'private-registry.io/apps/internal-app'],
    ['https://private-registry.io/v1/', 'private-registry.io/apps/internal-app'],
    ['host:5000/v2/', 'host:5000/team/app'],
    ['index.docker.io/acme', 'acme/app'],
    ['registry-1.docker.io/acme', 'docker.io/acme/app'],
  ])('%s serves %s', (server, meant) => {
    expect(chosen(lookup([probe(server)], [meant]).get(meant))).toEqual(['probe:probe-user']);
  });

  it('a dockerConfigFrom source keyed https://private-registry.io/v2/ still serves private-registry.io', () => {
    const image = 'private-registry.io/apps/internal-app';
    const config = JSON.stringify({ auths: { 'https://private-registry.io/v2/': { username: 'v2-user', password: EXTRA_PASSWORD } } });
    const source: SourceSecret = { metadata: { labels: { 'regcred.dev/source': 'true' } }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(config) } };
    // Used directly as a pull secret, kubelet matches it; after the operator re-keys it, not.
    expect(chosen(lookup([{ name: 'source', dockerconfigjson: config }], [image]).get(image))).toEqual(['source:v2-user']);
    const rendered = render('probe', [{ dockerConfigFrom: { secretRef: { name: 'source' } } }], { source }, 'extra');
    expect(chosen(lookup([rendered], [image]).get(image))).toEqual(['probe:v2-user']);
  });
});

describe("kubelet's own matching rules, which the operator's keys cannot change", () => {
  it('a path entry is a string prefix, not a path segment: registry.example.com/team-a also serves team-ab', () => {
    expect(chosen(table.get('registry.example.com/team-a/app'))).toEqual(['extra:team-a-robot']);
    const r = lookup(SECRETS(), ['registry.example.com/team-ab/app']);
    expect(chosen(r.get('registry.example.com/team-ab/app'))).toEqual(['extra:team-a-robot']);
  });

  it('localhost without a port counts as Docker Hub for the fallback: it is sent the Docker Hub credential', () => {
    // isDefaultRegistryMatch only looks for "." or ":" in the first part, while the image reference
    // itself (distribution/reference) pulls localhost/nginx from the host localhost.
    const r = lookup(SECRETS(), ['localhost/nginx', 'localhost:5000/nginx']);
    expect([r.get('localhost/nginx')?.repo, chosen(r.get('localhost/nginx')), chosen(r.get('localhost:5000/nginx'))]).toEqual(['localhost/nginx', HUB, NONE]);
  });

  it('hosts match case-sensitively: an image spelling the host in capitals gets nothing', () => {
    const r = lookup(SECRETS(), ['Private-Registry.io/apps/internal-app']);
    expect(chosen(r.get('Private-Registry.io/apps/internal-app'))).toEqual(NONE);
  });

  it('the more specific entry comes first when several match', () => {
    const secrets = [render('both', [entry('registry.example.com', 'host-robot'), entry('registry.example.com/team-a', 'team-a-robot')], EXTRA_SOURCES, 'extra')];
    const r = lookup(secrets, ['registry.example.com/team-a/app', 'registry.example.com/team-c/app']);
    expect([chosen(r.get('registry.example.com/team-a/app')), chosen(r.get('registry.example.com/team-c/app'))]).toEqual([
      ['both:team-a-robot', 'both:host-robot'],
      ['both:host-robot'],
    ]);
  });
});
