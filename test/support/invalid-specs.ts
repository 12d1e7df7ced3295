// Specs the API server (CEL and OpenAPI) and the zod schema must both reject, with the message a
// person sees. `zod` is given where the zod wording differs from the API server's.
const pw = { secretKeyRef: { name: 'acme-pull', key: 'password' } };
const server = (extra: Record<string, unknown> = {}) => ({ server: 'registry.acme.io', username: 'robot', passwordFrom: pw, ...extra });

export interface InvalidSpecCase {
  name: string;
  spec: Record<string, unknown>;
  api: string;
  zod?: string;
}

export const INVALID_SPECS: InvalidSpecCase[] = [
  { name: 'no registries field', spec: {}, api: 'spec.registries: Required value', zod: 'spec.registries: Invalid input' },
  { name: 'empty registries', spec: { registries: [] }, api: 'should have at least 1 items', zod: '>=1 items' },
  {
    name: 'more than 20 registries',
    spec: { registries: Array.from({ length: 21 }, (_, i) => server({ server: `r${i}.acme.io` })) },
    api: 'must have at most 20 items',
    zod: '<=20 items',
  },
  {
    name: 'both server and dockerConfigFrom',
    spec: { registries: [server({ dockerConfigFrom: { secretRef: { name: 'ghcr' } } })] },
    api: 'each registry entry needs exactly one of server or dockerConfigFrom',
  },
  { name: 'neither server nor dockerConfigFrom', spec: { registries: [{ email: 'a@b' }] }, api: 'each registry entry needs exactly one of server or dockerConfigFrom' },
  {
    name: 'both username and usernameFrom',
    spec: { registries: [server({ usernameFrom: pw })] },
    api: 'a server entry needs exactly one of username or usernameFrom',
  },
  {
    name: 'neither username nor usernameFrom',
    spec: { registries: [{ server: 'registry.acme.io', passwordFrom: pw }] },
    api: 'a server entry needs exactly one of username or usernameFrom',
  },
  {
    name: 'server without passwordFrom',
    spec: { registries: [{ server: 'registry.acme.io', username: 'robot' }] },
    api: 'a server entry needs passwordFrom',
  },
  {
    name: 'dockerConfigFrom with username',
    spec: { registries: [{ dockerConfigFrom: { secretRef: { name: 'ghcr' } }, username: 'x' }] },
    api: 'dockerConfigFrom cannot be combined with username',
  },
  {
    name: 'duplicate servers',
    spec: { registries: [server(), server({ username: 'other' })] },
    api: 'registries must not list the same server twice',
  },
  { name: 'invalid secretName', spec: { registries: [server()], secretName: 'Bad_Name' }, api: 'secretName must be a valid Secret name' },
  {
    name: 'unknown deletionPolicy',
    spec: { registries: [server()], deletionPolicy: 'Sometimes' },
    api: 'Unsupported value: "Sometimes"',
    zod: 'expected one of "Delete"|"Retain"',
  },
  { name: 'server with a space', spec: { registries: [server({ server: 'bad host' })] }, api: 'spec.registries[0].server in body should match', zod: 'must be host[:port][/path]' },
  {
    name: 'passwordFrom without key',
    spec: { registries: [server({ passwordFrom: { secretKeyRef: { name: 'acme-pull' } } })] },
    api: 'spec.registries[0].passwordFrom.secretKeyRef.key: Required value',
    zod: 'spec.registries[0].passwordFrom.secretKeyRef.key: Invalid input',
  },
  {
    name: 'unknown selector operator',
    spec: { registries: [server()], namespaces: { selector: { matchExpressions: [{ key: 'team', operator: 'Maybe' }] } } },
    api: 'Unsupported value: "Maybe"',
    zod: 'expected one of "In"|"NotIn"|"Exists"|"DoesNotExist"',
  },
  {
    name: 'empty include glob',
    spec: { registries: [server()], namespaces: { include: [''] } },
    api: 'should be at least 1 chars long',
    zod: '>=1 characters',
  },
];
