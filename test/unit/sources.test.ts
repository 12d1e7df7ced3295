import { describe, expect, it } from 'vitest';
import type { RegistryEntry } from '../../src/api/schema.ts';
import { DOCKER_HUB_KEY, authEntry } from '../../src/controller/dockerconfig.ts';
import { referencedSecrets, resolveEntries, type SourceInputs, type SourceSecret } from '../../src/controller/sources.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const PASSWORD = 'Sup3r-S3cret-Pa55';

function inputs(secrets: Record<string, SourceSecret>): SourceInputs {
  return { secret: (name) => secrets[name], credentialsNamespace: 'regcred-system' };
}

const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });

const SECRETS: Record<string, SourceSecret> = {
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
};

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
