import { describe, expect, it } from 'vitest';
import { ALLOWED_CREDENTIALS_ANNOTATION, COMPONENT_LABEL, DIGEST_KEY_COMPONENT, SOURCE_LABEL } from '../../src/api/labels.ts';
import type { RegistryEntry } from '../../src/api/schema.ts';
import { DOCKER_HUB_KEY, authEntry } from '../../src/controller/dockerconfig.ts';
import { referencedSecrets, resolveEntries, type SourceInputs, type SourceSecret } from '../../src/controller/sources.ts';
import { loadSample } from '../support/samples.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const PASSWORD = 'Sup3r-S3cret-Pa55';

function inputs(secrets: Record<string, SourceSecret>, credential = 'reader'): SourceInputs {
  return { secret: (name) => secrets[name], credentialsNamespace: 'regcred-system', credential };
}

const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });

/** Opted in as a source, as every Secret of these tables is unless it says otherwise. */
const OPTED_IN = { labels: { [SOURCE_LABEL]: 'true' } };
const optedIn = (secrets: Record<string, SourceSecret>): Record<string, SourceSecret> =>
  Object.fromEntries(Object.entries(secrets).map(([name, secret]) => [name, { metadata: OPTED_IN, ...secret }]));

const SECRETS: Record<string, SourceSecret> = optedIn({
  creds: { type: 'Opaque', data: { username: b64('robot'), password: b64(PASSWORD), empty: '', newline: b64(`${PASSWORD}\n`), crlf: b64(`${PASSWORD}\r`) } },
  hub: {
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'docker.io': { username: 'hubuser', password: PASSWORD } } })) },
  },
  legacy: {
    type: 'kubernetes.io/dockercfg',
    data: { '.dockercfg': b64(JSON.stringify({ 'quay.io': { auth: b64(`q:${PASSWORD}`), email: 'q@example.com' } })) },
  },
  notjson: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(`{"auths": ${PASSWORD}`) } },
  opaque: { type: 'Opaque', data: { '.dockerconfigjson': b64(JSON.stringify({ auths: {} })) } },
  noauths: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(JSON.stringify({ registries: PASSWORD })) } },
  badentry: { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'r.io': { password: PASSWORD } } })) } },
  nokey: { type: 'kubernetes.io/dockerconfigjson', data: {} },
});

describe('resolveEntries', () => {
  it('resolves a literal username with passwordFrom', () => {
    const r = resolveEntries([{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'password') }], inputs(SECRETS));
    expect(r).toEqual({ ok: true, entries: [{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('me', PASSWORD) } }] });
  });

  it('resolves usernameFrom and keeps the email', () => {
    const r = resolveEntries(
      [{ server: 'https://registry.acme.io:5000/', usernameFrom: ref('creds', 'username'), passwordFrom: ref('creds', 'password'), email: 'ops@acme.io' }],
      inputs(SECRETS),
    );
    expect(r).toEqual({ ok: true, entries: [{ label: 'registries[0]', auths: { 'registry.acme.io:5000': authEntry('robot', PASSWORD, 'ops@acme.io') } }] });
  });

  it('resolves dockerConfigFrom of both Secret types, in order, with labels by position', () => {
    const r = resolveEntries(
      [{ dockerConfigFrom: { secretRef: { name: 'hub' } } }, { dockerConfigFrom: { secretRef: { name: 'legacy' } } }],
      inputs(SECRETS),
    );
    expect(r).toEqual({
      ok: true,
      entries: [
        { label: 'registries[0]', auths: { [DOCKER_HUB_KEY]: authEntry('hubuser', PASSWORD) } },
        { label: 'registries[1]', auths: { 'quay.io': authEntry('q', PASSWORD, 'q@example.com') } },
      ],
    });
  });

  it('resolves an empty list to no entries', () => {
    expect(resolveEntries([], inputs({}))).toEqual({ ok: true, entries: [] });
  });

  it.each<[string, RegistryEntry[], 'SourceNotFound' | 'InvalidSource', string]>([
    [
      'missing password Secret',
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('absent', 'password') }],
      'SourceNotFound',
      'spec.registries[0]: Secret regcred-system/absent not found',
    ],
    [
      'missing username Secret',
      [{ server: 'ghcr.io', usernameFrom: ref('absent', 'user'), passwordFrom: ref('creds', 'password') }],
      'SourceNotFound',
      'spec.registries[0]: Secret regcred-system/absent not found',
    ],
    [
      'missing password key',
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'token') }],
      'SourceNotFound',
      'spec.registries[0]: Secret regcred-system/creds has no key token',
    ],
    [
      'missing username key',
      [{ server: 'ghcr.io', usernameFrom: ref('creds', 'user'), passwordFrom: ref('creds', 'password') }],
      'SourceNotFound',
      'spec.registries[0]: Secret regcred-system/creds has no key user',
    ],
    [
      'empty password',
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'empty') }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/creds key empty is empty',
    ],
    [
      'password with a trailing newline',
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'newline') }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/creds key newline contains a line break',
    ],
    [
      'password with a trailing carriage return',
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'crlf') }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/creds key crlf contains a line break',
    ],
    [
      'username with a trailing newline',
      [{ server: 'ghcr.io', usernameFrom: ref('creds', 'newline'), passwordFrom: ref('creds', 'password') }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/creds key newline contains a line break',
    ],
    [
      'missing dockerConfigFrom Secret',
      [{ dockerConfigFrom: { secretRef: { name: 'absent' } } }],
      'SourceNotFound',
      'spec.registries[0]: Secret regcred-system/absent not found',
    ],
    [
      'dockerConfigFrom Secret that is not JSON',
      [{ dockerConfigFrom: { secretRef: { name: 'notjson' } } }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/notjson key .dockerconfigjson is not valid JSON',
    ],
    [
      'dockerConfigFrom Secret of the wrong type',
      [{ dockerConfigFrom: { secretRef: { name: 'opaque' } } }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/opaque has type Opaque, want kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg',
    ],
    [
      'dockerConfigFrom Secret without auths',
      [{ dockerConfigFrom: { secretRef: { name: 'noauths' } } }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/noauths key .dockerconfigjson has no "auths" object',
    ],
    [
      'dockerConfigFrom Secret with an incomplete entry',
      [{ dockerConfigFrom: { secretRef: { name: 'badentry' } } }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/badentry key .dockerconfigjson: the entry for r.io has neither username and password nor a valid auth',
    ],
    [
      'dockerConfigFrom Secret without its key',
      [{ dockerConfigFrom: { secretRef: { name: 'nokey' } } }],
      'InvalidSource',
      'spec.registries[0]: Secret regcred-system/nokey has no key .dockerconfigjson',
    ],
    [
      'the first failing entry, by position',
      [
        { server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'password') },
        { server: 'quay.io', username: 'me', passwordFrom: ref('creds', 'empty') },
        { server: 'r.io', username: 'me', passwordFrom: ref('absent', 'password') },
      ],
      'InvalidSource',
      'spec.registries[1]: Secret regcred-system/creds key empty is empty',
    ],
    ['an entry with no source', [{ username: 'me' }], 'InvalidSource', 'spec.registries[0] has no credential source'],
  ])('fails on a %s', (_name, entries, reason, message) => {
    const r = resolveEntries(entries, inputs(SECRETS));
    expect(r).toEqual({ ok: false, reason, message });
  });

  it('never puts a password into a message', () => {
    const entries: RegistryEntry[][] = [
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'newline') }],
      [{ server: 'ghcr.io', usernameFrom: ref('creds', 'password'), passwordFrom: ref('creds', 'crlf') }],
      [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('creds', 'missing') }],
      [{ dockerConfigFrom: { secretRef: { name: 'notjson' } } }],
      [{ dockerConfigFrom: { secretRef: { name: 'noauths' } } }],
      [{ dockerConfigFrom: { secretRef: { name: 'badentry' } } }],
    ];
    for (const e of entries) {
      const r = resolveEntries(e, inputs(SECRETS));
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.message).not.toContain(PASSWORD);
      expect(r.message).not.toContain(b64(PASSWORD));
    }
  });
});

describe('resolveEntries: only Secrets that opted in are read', () => {
  const password = { password: b64(PASSWORD) };
  const dockerconfig = { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'ghcr.io': { username: 'gh', password: PASSWORD } } })) };
  const byKey: RegistryEntry[] = [{ server: 'ghcr.io', username: 'me', passwordFrom: ref('src', 'password') }];
  const byConfig: RegistryEntry[] = [{ dockerConfigFrom: { secretRef: { name: 'src' } } }];
  const allowing = (list: string) => ({ labels: { [SOURCE_LABEL]: 'true' }, annotations: { [ALLOWED_CREDENTIALS_ANNOTATION]: list } });
  const where = 'spec.registries[0]: Secret regcred-system/src';
  const noLabel = `${where} is not a source: it lacks the label regcred.dev/source=true`;
  const notListed = `${where} does not list RegistryCredential reader in its annotation regcred.dev/allowed-credentials`;
  const refused = (type: string) => `${where} has type ${type}, which is refused as a source`;

  it.each<[string, SourceSecret, RegistryEntry[], string | 'ok']>([
    ['an Opaque Secret without the label', { type: 'Opaque', data: password }, byKey, noLabel],
    ['a dockerconfigjson Secret without the label', { type: 'kubernetes.io/dockerconfigjson', data: dockerconfig }, byConfig, noLabel],
    ['a Secret without the label, before looking for its key', { type: 'Opaque', data: {} }, byKey, noLabel],
    ['the label with another value', { metadata: { labels: { [SOURCE_LABEL]: 'True' } }, type: 'Opaque', data: password }, byKey, noLabel],
    ['the allowed-credentials annotation only', { metadata: { annotations: { [ALLOWED_CREDENTIALS_ANNOTATION]: 'reader' } }, type: 'Opaque', data: password }, byKey, noLabel],
    ['an annotation that lists other credentials', { metadata: allowing('other,reader-2, readers'), type: 'Opaque', data: password }, byKey, notListed],
    ['an empty annotation', { metadata: allowing(''), type: 'kubernetes.io/dockerconfigjson', data: dockerconfig }, byConfig, notListed],
    ['an annotation that lists it, with spaces', { metadata: allowing(' other , reader ,x'), type: 'Opaque', data: password }, byKey, 'ok'],
    ['an annotation that lists it alone', { metadata: allowing('reader'), type: 'kubernetes.io/dockerconfigjson', data: dockerconfig }, byConfig, 'ok'],
    ...['kubernetes.io/service-account-token', 'helm.sh/release.v1', 'bootstrap.kubernetes.io/token', 'kubernetes.io/tls'].map(
      (type): [string, SourceSecret, RegistryEntry[], string] => [`a ${type} Secret, even with the label and the annotation`, { metadata: allowing('reader'), type, data: password }, byKey, refused(type)],
    ),
    ['the digest key Secret, even with the label', { metadata: { labels: { [SOURCE_LABEL]: 'true', [COMPONENT_LABEL]: DIGEST_KEY_COMPONENT } }, type: 'Opaque', data: { password: b64('k'.repeat(32)) } }, byKey, `${where} is the operator's digest key, which is never a source`],
    ['an opted-in Opaque Secret', { metadata: OPTED_IN, type: 'Opaque', data: password }, byKey, 'ok'],
    ['an opted-in dockerconfigjson Secret', { metadata: OPTED_IN, type: 'kubernetes.io/dockerconfigjson', data: dockerconfig }, byConfig, 'ok'],
  ])('%s', (_name, secret, entries, expected) => {
    const r = resolveEntries(entries, inputs({ src: secret }));
    if (expected === 'ok') expect(r).toMatchObject({ ok: true, entries: [{ label: 'registries[0]' }] });
    else expect(r).toEqual({ ok: false, reason: 'SourceNotAllowed', message: expected });
  });

  it('checks each Secret for the credential that reads it', () => {
    const secrets = { src: { metadata: allowing('reader'), type: 'Opaque', data: password } };
    expect(resolveEntries(byKey, inputs(secrets, 'reader')).ok).toBe(true);
    expect(resolveEntries(byKey, inputs(secrets, 'intruder'))).toEqual({
      ok: false,
      reason: 'SourceNotAllowed',
      message: `${where} does not list RegistryCredential intruder in its annotation regcred.dev/allowed-credentials`,
    });
  });

  it('checks the username Secret too', () => {
    const secrets = { src: { metadata: OPTED_IN, type: 'Opaque', data: password }, user: { type: 'Opaque', data: { username: b64('robot') } } };
    const r = resolveEntries([{ server: 'ghcr.io', usernameFrom: ref('user', 'username'), passwordFrom: ref('src', 'password') }], inputs(secrets));
    expect(r).toEqual({ ok: false, reason: 'SourceNotAllowed', message: 'spec.registries[0]: Secret regcred-system/user is not a source: it lacks the label regcred.dev/source=true' });
  });
});

describe('the samples', () => {
  it.each(['config/samples/private-registry.yaml', 'config/samples/dockerhub-and-ghcr.yaml'])('%s: the RegistryCredential may read every source Secret it creates', (file) => {
    const sample = loadSample(file);
    expect(resolveEntries(sample.spec.registries, inputs(sample.secrets, sample.name))).toMatchObject({ ok: true });
  });
});

describe('referencedSecrets', () => {
  it.each<[string, RegistryEntry[], string[]]>([
    ['no entries', [], []],
    ['literal username: the password Secret only', [{ server: 'a.io', username: 'u', passwordFrom: ref('p', 'k') }], ['p']],
    ['usernameFrom and passwordFrom', [{ server: 'a.io', usernameFrom: ref('u', 'k'), passwordFrom: ref('p', 'k') }], ['u', 'p']],
    ['one Secret for both', [{ server: 'a.io', usernameFrom: ref('s', 'user'), passwordFrom: ref('s', 'pass') }], ['s']],
    ['dockerConfigFrom', [{ dockerConfigFrom: { secretRef: { name: 'd' } } }], ['d']],
    [
      'several entries, deduplicated',
      [
        { server: 'a.io', username: 'u', passwordFrom: ref('shared', 'a') },
        { server: 'b.io', usernameFrom: ref('shared', 'u'), passwordFrom: ref('b', 'k') },
        { dockerConfigFrom: { secretRef: { name: 'd' } } },
        { dockerConfigFrom: { secretRef: { name: 'shared' } } },
      ],
      ['shared', 'b', 'd'],
    ],
    ['an entry with no source', [{ username: 'u' }], []],
  ])('%s', (_name, entries, names) => {
    expect([...referencedSecrets(entries)].sort()).toEqual([...names].sort());
  });
});
