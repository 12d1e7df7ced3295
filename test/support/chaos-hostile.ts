// Generators of hostile input for the operator: RegistryCredential specs (near-valid ones with
// mutations, arbitrary JSON, wrong types, unicode, huge and empty values) and source Secrets
// (invalid base64, 1 MiB values, dockerconfigjson/dockercfg of the wrong shape, Secrets that did not
// opt in or that only other credentials may read, types that are never sources).
import fc from 'fast-check';
import { ALLOWED_CREDENTIALS_ANNOTATION, SOURCE_LABEL, SOURCE_LABEL_VALUE } from '../../src/api/labels.ts';

/** Names the generated specs refer to, so that references often hit a generated source Secret. */
export const SOURCE_NAMES = ['pw', 'user', 'cfg', 'legacy', 'big', 'uni', 'empty', 'nl', 'typed', 'missing'];
const KEYS = ['password', 'username', 'token', '.dockerconfigjson', '.dockercfg', 'missing-key'];

/** 1 MiB: over the API server's limit for a Secret's data. */
export const ONE_MIB = 'a'.repeat(1 << 20);
/** Just under 1 MiB: a Secret that is accepted, whose rendered config (auth adds base64) cannot be. */
export const NEARLY_ONE_MIB = 'b'.repeat((1 << 20) - 4096);

const weird = fc.constantFrom(
  '', ' ', '\u0000', '\n', 'line\nbreak', 'trailing\n', 'π', '🦀🦀', '\u202eevil', 'Ω≈ç√', 'Bad_Name', '-lead', 'trail-', 'a'.repeat(254),
  'docker.io', 'https://index.docker.io/v1/', '../../etc/passwd', '${jndi:ldap://x}', '<script>', 'null', 'true', '0', '*', 'ümlaut.example',
);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string() },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 4, arbitrary: weird },
  { weight: 1, arbitrary: fc.string({ minLength: 300, maxLength: 3000 }) },
);

/** Any JSON-ish value where a particular type is expected. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), hostileString, { maxKeys: 3 }) },
);

/** Mostly the valid value, sometimes something hostile in its place. */
const maybe = <T>(valid: fc.Arbitrary<T>, validWeight = 4): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: validWeight, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: hostileValue });

const server = fc.constantFrom('registry.acme.io', 'docker.io', 'index.docker.io', 'https://registry-1.docker.io', 'ghcr.io', 'reg.example.com:5000/team', 'localhost:5000');
const sourceName = fc.constantFrom(...SOURCE_NAMES);
const keyRef = fc.record({ secretKeyRef: fc.record({ name: maybe(sourceName, 8), key: maybe(fc.constantFrom(...KEYS), 8) }) });

const serverEntry = fc.record(
  {
    server: maybe(server, 8),
    username: maybe(fc.constantFrom('robot', 'ci-bot', 'ümlaut'), 3),
    usernameFrom: maybe(keyRef, 6),
    passwordFrom: maybe(keyRef, 8),
    email: maybe(fc.constantFrom('ops@acme.io', ''), 2),
  },
  { requiredKeys: [] },
);
const dockerEntry = fc.record({ dockerConfigFrom: maybe(fc.record({ secretRef: fc.record({ name: maybe(sourceName, 8) }) }), 8) });
const entry = fc.oneof({ weight: 5, arbitrary: serverEntry }, { weight: 3, arbitrary: dockerEntry }, { weight: 1, arbitrary: hostileValue });

/** Strings the schema accepts (1..256 characters) but that no sane registry user would pick. */
const oddButValid = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.constantFrom('ümlaut', '🦀', 'a'.repeat(256), ' leading-space', 'quote"and\\backslash', 'robot'),
);

// Mostly the one plausible reference (pw/password), so that a fair share of specs render and write.
const validKeyRef = fc.record({
  secretKeyRef: fc.record({
    name: fc.oneof({ weight: 3, arbitrary: fc.constant('pw') }, { weight: 2, arbitrary: sourceName }),
    key: fc.oneof({ weight: 3, arbitrary: fc.constant('password') }, { weight: 2, arbitrary: fc.constantFrom(...KEYS) }),
  }),
});
const validServerEntry = fc.tuple(server, fc.oneof(oddButValid.map((username) => ({ username })), validKeyRef.map((usernameFrom) => ({ usernameFrom }))), validKeyRef, fc.option(oddButValid, { nil: undefined }))
  .map(([srv, user, passwordFrom, email]) => ({ server: srv, ...user, passwordFrom, ...(email !== undefined ? { email } : {}) }));
const validDockerEntry = sourceName.map((name) => ({ dockerConfigFrom: { secretRef: { name } } }));
const validEntry = fc.oneof({ weight: 3, arbitrary: validServerEntry }, { weight: 1, arbitrary: validDockerEntry });

/** Specs the API server accepts, with odd content: unicode user names, dangling references, every option. */
export function validSpec(targetGlob: string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      registries: fc.uniqueArray(validEntry, { minLength: 1, maxLength: 3, selector: (e) => ('server' in e ? e.server : JSON.stringify(e)) }),
      secretName: fc.constantFrom('pull', 'regcred', 'a.b', 'x', 'hostile-pull', 'z'.repeat(253)),
      namespaces: fc.oneof(fc.constant({ include: [targetGlob] }), fc.constant({ include: [targetGlob], exclude: ['*-t2'] }), fc.constant({ selector: { matchLabels: { team: 'none' } } })),
      serviceAccounts: fc.oneof(fc.constant({ names: ['*'] }), fc.constant({ names: ['default', 'builder'] }), fc.constant({ selector: { matchExpressions: [{ key: 'x', operator: 'Exists' }] } })),
      deletionPolicy: fc.constantFrom('Delete', 'Retain'),
    },
    { requiredKeys: ['registries'] },
  );
}

/** One damage done to a valid spec: a field replaced, removed, or joined by an unknown one. */
function mutated(targetGlob: string): fc.Arbitrary<unknown> {
  return fc.tuple(validSpec(targetGlob), fc.constantFrom('registries', 'secretName', 'namespaces', 'serviceAccounts', 'deletionPolicy', 'registries[0]', 'registries[0].server', 'registries[0].passwordFrom', 'unknownField'), fc.boolean(), hostileValue)
    .map(([spec, path, remove, value]) => {
      const copy = JSON.parse(JSON.stringify(spec)) as Record<string, unknown> & { registries: Array<Record<string, unknown>> };
      const [holder, key]: [Record<string, unknown>, string] =
        path === 'registries[0]' ? [copy.registries as unknown as Record<string, unknown>, '0']
          : path.startsWith('registries[0].') ? [copy.registries[0]!, path.slice('registries[0].'.length)]
            : [copy, path];
      if (remove) delete holder[key];
      else holder[key] = value;
      return copy;
    });
}

/**
 * Specs of every kind: valid ones with odd content (so the operator has work), valid ones with one
 * mutation, ones with damage everywhere, arbitrary JSON, and wrong types at the top.
 */
export function hostileSpec(targetGlob: string): fc.Arbitrary<unknown> {
  const selector = fc.record({ matchLabels: maybe(fc.dictionary(fc.constantFrom('team', 'env', 'ü'), fc.constantFrom('a', 'b', ''), { maxKeys: 2 })) }, { requiredKeys: [] });
  const namespaces = fc.oneof(
    fc.constant(undefined),
    fc.constant({ include: [targetGlob] }),
    fc.record({ include: maybe(fc.array(fc.oneof(fc.constant(targetGlob), hostileString), { maxLength: 3 })), exclude: maybe(fc.array(hostileString, { maxLength: 2 })), selector: maybe(selector) }, { requiredKeys: [] }),
    hostileValue,
  );
  const serviceAccounts = fc.oneof(
    fc.constant(undefined),
    fc.constant({ names: ['*'] }),
    fc.record({ names: maybe(fc.array(fc.oneof(fc.constantFrom('default', '*', 'builder'), hostileString), { maxLength: 3 })), selector: maybe(selector) }, { requiredKeys: [] }),
    hostileValue,
  );
  const damaged = fc.record(
    {
      registries: fc.oneof(
        { weight: 8, arbitrary: fc.array(entry, { minLength: 1, maxLength: 3 }) },
        { weight: 1, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: fc.array(serverEntry, { minLength: 21, maxLength: 22 }) },
        { weight: 1, arbitrary: hostileValue },
      ),
      secretName: maybe(fc.constantFrom('pull', 'regcred', 'a.b', 'x', 'hostile-pull'), 3),
      namespaces,
      serviceAccounts,
      deletionPolicy: maybe(fc.constantFrom('Delete', 'Retain'), 3),
    },
    { requiredKeys: ['registries'] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: validSpec(targetGlob) },
    { weight: 3, arbitrary: mutated(targetGlob) },
    { weight: 2, arbitrary: damaged },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.oneof(fc.constant({}), hostileValue) },
  );
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The content of a .dockerconfigjson / .dockercfg: valid, or of the wrong shape. */
const dockerConfigText: fc.Arbitrary<string> = fc.oneof(
  fc.constant(JSON.stringify({ auths: { 'registry.acme.io': { username: 'robot', password: 'generated-pw-1' } } })),
  fc.constant(JSON.stringify({ 'legacy.acme.io': { auth: b64('robot:generated-pw-2'), email: 'x@y' } })),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.record({ auths: fc.oneof(hostileValue, fc.dictionary(fc.oneof(server, hostileString), fc.record({ username: hostileValue, password: hostileValue, auth: maybe(fc.constantFrom(b64('u:p'), b64(':p'), b64('nocolon'), '!!notbase64', ''), 2), email: hostileValue }, { requiredKeys: [] }), { maxKeys: 3 })) }).map((v) => JSON.stringify(v)),
  fc.dictionary(server, fc.record({ auth: fc.oneof(fc.constantFrom(b64('u:p'), b64(':p'), '%%%'), hostileString) }), { maxKeys: 2 }).map((v) => JSON.stringify(v)),
  hostileString,
);

/** A data value as the API server would carry it (base64), or raw text that is not valid base64. */
const dataValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: hostileString.map(b64) },
  { weight: 3, arbitrary: dockerConfigText.map(b64) },
  { weight: 1, arbitrary: fc.constantFrom('!!!', '%%%', 'abc', '====', 'ä-not-base64', ' ') },
  { weight: 1, arbitrary: fc.constantFrom(b64(ONE_MIB), b64(NEARLY_ONE_MIB)) },
);

export interface GeneratedSecret {
  name: string;
  type: string;
  data: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The Secret as it is sent to the API server (and as the operator reads it back). */
export function secretObject(s: GeneratedSecret) {
  return { metadata: { name: s.name, ...(s.labels ? { labels: s.labels } : {}), ...(s.annotations ? { annotations: s.annotations } : {}) }, type: s.type, data: s.data };
}

/**
 * Whether a generated Secret may be read: mostly opted in (so the operator has work), sometimes
 * without the label or with another value of it, sometimes with an allowed-credentials annotation
 * that names no generated credential (their names are not known here) or is junk.
 */
const access: fc.Arbitrary<Pick<GeneratedSecret, 'labels' | 'annotations'>> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ labels: { [SOURCE_LABEL]: SOURCE_LABEL_VALUE } }) },
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.constantFrom('false', 'True', '').map((v) => ({ labels: { [SOURCE_LABEL]: v } })) },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.constantFrom('', ' , ', 'someone-else', 'a, b'), hostileString)
      .map((v) => ({ labels: { [SOURCE_LABEL]: SOURCE_LABEL_VALUE }, annotations: { [ALLOWED_CREDENTIALS_ANNOTATION]: v } })),
  },
);

/** Types that are never sources and that the API server accepts without checking their content. */
const REFUSED_TYPES = ['helm.sh/release.v1', 'bootstrap.kubernetes.io/token'];

/** Source Secrets: plausible ones with odd values, typed ones with content of the wrong shape, and junk. */
const hostileSourceContent: fc.Arbitrary<GeneratedSecret> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      name: fc.oneof({ weight: 2, arbitrary: fc.constant('pw') }, { weight: 3, arbitrary: sourceName.filter((n) => n !== 'missing') }),
      type: fc.constant('Opaque'),
      data: fc.dictionary(fc.constantFrom('password', 'username', 'token'), fc.oneof(
        { weight: 4, arbitrary: oddButValid.map(b64) },
        { weight: 2, arbitrary: fc.constantFrom('', 'trailing\n', 'a:b:c', '\u0000').map(b64) },
        { weight: 1, arbitrary: fc.constant(b64(NEARLY_ONE_MIB)) },
      ), { minKeys: 1, maxKeys: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('cfg', 'legacy', 'typed'), fc.boolean(), dockerConfigText).map(([name, json, text]) => ({
      name,
      type: json ? 'kubernetes.io/dockerconfigjson' : 'kubernetes.io/dockercfg',
      data: { [json ? '.dockerconfigjson' : '.dockercfg']: b64(text) },
    })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      name: fc.oneof({ weight: 12, arbitrary: sourceName.filter((n) => n !== 'missing') }, { weight: 1, arbitrary: hostileString }),
      type: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('Opaque', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg') },
        { weight: 1, arbitrary: fc.constantFrom(...REFUSED_TYPES) },
        { weight: 1, arbitrary: hostileString },
      ),
      data: fc.dictionary(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KEYS.filter((k) => k !== 'missing-key')) }, { weight: 1, arbitrary: hostileString }), dataValue, { maxKeys: 3 }),
    }),
  },
);

/** Source Secrets of every kind above, each opted in or not, for everyone or not. */
export const hostileSourceSecret: fc.Arbitrary<GeneratedSecret> = fc.tuple(hostileSourceContent, access).map(([secret, meta]) => ({ ...secret, ...meta }));

/**
 * The decoded values of a generated Secret, and its allowed-credentials annotation, long enough to
 * be recognised if they leaked.
 */
export function secretValues(secret: GeneratedSecret): string[] {
  return [...Object.values(secret.data).map((v) => Buffer.from(v, 'base64').toString('utf8')), ...Object.values(secret.annotations ?? {})]
    .filter((v) => v.length >= 12 && v.length < 100_000);
}
