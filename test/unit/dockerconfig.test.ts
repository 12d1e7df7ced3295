import { describe, expect, it } from 'vitest';
import {
  DOCKER_HUB_KEY,
  basicAuth,
  canonicalJson,
  parseDockerConfigSecret,
  registryKey,
  renderDockerConfig,
} from '../../src/controller/dockerconfig.ts';
import { Digest } from '../../src/controller/digest.ts';

const digest = Digest.random();
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('registryKey', () => {
  it.each([
    ['docker.io', DOCKER_HUB_KEY],
    ['index.docker.io', DOCKER_HUB_KEY],
    ['registry-1.docker.io', DOCKER_HUB_KEY],
    ['https://index.docker.io/v1/', DOCKER_HUB_KEY],
    ['https://registry-1.docker.io/v2/', DOCKER_HUB_KEY],
    ['Docker.IO', DOCKER_HUB_KEY],
    ['private-registry.io', 'private-registry.io'],
    ['registry.acme.io:5000', 'registry.acme.io:5000'],
    ['https://ghcr.io/', 'ghcr.io'],
    ['http://localhost:5000/team/', 'localhost:5000/team'],
    ['docker.io/library', 'docker.io/library'],
    // As kubelet's keyring reads them (test/unit/keyring.test.ts).
    ['index.docker.io/acme', 'docker.io/acme'],
    ['https://registry-1.docker.io/acme/', 'docker.io/acme'],
    ['https://private-registry.io/v2/', 'private-registry.io'],
    ['https://private-registry.io/v1', 'private-registry.io'],
    ['host:5000/v2/', 'host:5000'],
    ['host:5000/v2/team', 'host:5000/v2/team'],
  ])('%s → %s', (server, key) => {
    expect(registryKey(server)).toBe(key);
  });
});

describe('basicAuth', () => {
  it('is base64 of user:password, with colons in the password kept', () => {
    expect(basicAuth('registry-user', 'p:ss')).toBe(b64('registry-user:p:ss'));
    expect(Buffer.from(basicAuth('ü', 'pä'), 'base64').toString('utf8')).toBe('ü:pä');
  });
});

describe('renderDockerConfig', () => {
  it('renders canonical bytes with sorted keys and auth = base64(user:password)', () => {
    const r = renderDockerConfig([
      { label: 'registries[0]', auths: { 'z.io': { username: 'u', password: 'p', auth: basicAuth('u', 'p') } } },
      { label: 'registries[1]', auths: { 'a.io': { username: 'v', password: 'q', auth: basicAuth('v', 'q'), email: 'e@x' } } },
    ], digest);
    expect(r.bytes.toString()).toBe(
      `{"auths":{"a.io":{"auth":"${b64('v:q')}","email":"e@x","password":"q","username":"v"},"z.io":{"auth":"${b64('u:p')}","password":"p","username":"u"}}}`,
    );
    expect(r.hash).toBe(digest.of(r.bytes));
    expect(r.hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(r.registries).toEqual(['a.io', 'z.io']);
  });

  it('gives the same bytes and hash whatever the order of keys inside an entry', () => {
    const a = renderDockerConfig([{ label: 'x', auths: { r: { username: 'u', password: 'p', auth: 'dTpw' } } }], digest);
    const b = renderDockerConfig([{ label: 'x', auths: { r: { auth: 'dTpw', password: 'p', username: 'u' } } }], digest);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.hash).toBe(b.hash);
  });

  it('lets the first entry win a registry and reports the later, different one', () => {
    const first = { username: 'a', password: '1', auth: basicAuth('a', '1') };
    const second = { username: 'b', password: '2', auth: basicAuth('b', '2') };
    const r = renderDockerConfig([
      { label: 'registries[0]', auths: { 'ghcr.io': first } },
      { label: 'registries[1]', auths: { 'ghcr.io': second, 'quay.io': second } },
    ], digest);
    const out = JSON.parse(r.bytes.toString());
    expect(out.auths['ghcr.io'].username).toBe('a');
    expect(out.auths['quay.io'].username).toBe('b');
    expect(r.shadowed).toEqual([{ registry: 'ghcr.io', keptFrom: 'registries[0]', ignoredFrom: 'registries[1]' }]);
  });

  it('does not report an identical duplicate as a conflict', () => {
    const same = { username: 'a', password: '1', auth: basicAuth('a', '1') };
    const r = renderDockerConfig([
      { label: 'registries[0]', auths: { 'ghcr.io': same } },
      { label: 'registries[1]', auths: { 'ghcr.io': { ...same } } },
    ], digest);
    expect(r.shadowed).toEqual([]);
  });
});

describe('parseDockerConfigSecret', () => {
  it('reads a dockerconfigjson, normalizing keys and filling auth from username/password', () => {
    const doc = { auths: { 'https://index.docker.io/v1/': { username: 'u', password: 'p' }, 'ghcr.io': { auth: b64('g:t'), email: 'm@x' } } };
    const r = parseDockerConfigSecret('kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64(JSON.stringify(doc)) });
    expect(r).toEqual({
      ok: true,
      auths: {
        [DOCKER_HUB_KEY]: { username: 'u', password: 'p', auth: b64('u:p') },
        'ghcr.io': { username: 'g', password: 't', auth: b64('g:t'), email: 'm@x' },
      },
    });
  });

  it('converts a legacy dockercfg (no auths wrapper) into the same entries', () => {
    const doc = { 'docker.io': { auth: b64('u:p'), email: 'x@y' } };
    const r = parseDockerConfigSecret('kubernetes.io/dockercfg', { '.dockercfg': b64(JSON.stringify(doc)) });
    expect(r).toEqual({ ok: true, auths: { [DOCKER_HUB_KEY]: { username: 'u', password: 'p', auth: b64('u:p'), email: 'x@y' } } });
  });

  it.each([
    ['Opaque', { '.dockerconfigjson': b64('{}') }, 'has type Opaque'],
    ['kubernetes.io/dockerconfigjson', {}, 'has no key .dockerconfigjson'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64('{not json SECRETVALUE') }, 'is not valid JSON'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64('{"x":1}') }, 'has no "auths" object'],
    ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64('{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}') }, 'neither username and password nor a valid auth'],
    ['kubernetes.io/dockercfg', { '.dockercfg': b64('[1]') }, 'is not a JSON object'],
  ])('rejects %s %j with a message that names the problem', (type, data, message) => {
    const r = parseDockerConfigSecret(type, data);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toContain(message);
      expect(r.message).not.toContain('SECRETVALUE');
    }
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: null } })).toBe('{"a":{"c":null,"d":[3,1]},"b":1}');
  });
});
