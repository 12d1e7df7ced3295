// Amazon ECR tokens on the real control plane, with moto (test/support/moto.ts) standing in for
// AWS: the operator's AWS SDK signs and sends real GetAuthorizationToken and
// AssumeRoleWithWebIdentity requests; the ServiceAccount token comes from the real TokenRequest API.
// One token per distinct key whatever the number of namespaces, refreshed before expiry (the
// operator runs with --token-max-lifetime 40s), identical bytes write nothing, and a failing cloud
// leaves the last good token in place with TokenRefreshed=False and one Warning Event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { eventually } from '../support/cluster.ts';
import { Moto } from '../support/moto.ts';
import { leakForms, recordLeakForms } from '../support/operator.ts';
import { b64, decode, Scenario } from '../support/scenario.ts';

const s = new Scenario('ecr');
let moto: Moto;
const REGION = 'eu-west-1';
const REGISTRY = `123456789012.dkr.ecr.${REGION}.amazonaws.com`;
/** moto's token for its account; the proxy appends "-<n>" when it rotates tokens. */
const MOTO_TOKEN = '123456789012-auth-token';
const namespaces: string[] = [];

beforeAll(async () => {
  moto = await Moto.start();
  // The token is in the Secrets by design; it must reach no log.
  recordLeakForms(leakForms('AWS', MOTO_TOKEN));
  await s.setup(['--token-max-lifetime', '40s', '--status-interval', '200ms']);
});

afterAll(async () => {
  await s.teardown();
  await Promise.all(namespaces.map((ns) => s.client.delete(RESOURCES.namespaces, undefined, ns).catch(() => undefined)));
  await moto?.stop();
});

/** Namespaces labelled for one test, created `parallel` at a time. */
async function labelledNamespaces(prefix: string, count: number, label: Record<string, string>): Promise<string[]> {
  const made: string[] = [];
  for (let i = 0; i < count; i += 20) {
    made.push(...(await Promise.all(Array.from({ length: Math.min(20, count - i) }, (_, j) => s.namespace(`${prefix}-${i + j}`, label)))));
  }
  namespaces.push(...made);
  return made;
}

async function awsKeys(name: string, accessKeyId: string): Promise<void> {
  await s.sourceSecret(name, { aws_access_key_id: accessKeyId, aws_secret_access_key: s.password(accessKeyId) });
}

const ecrEntry = (auth: Record<string, unknown>) => ({ ecr: { registry: REGISTRY, endpoint: moto.url, auth } });

/** The password the Secret in the namespace holds for the ECR registry. */
async function tokenIn(ns: string): Promise<string | undefined> {
  const secret = await s.getSecret(ns, 'token-pull').catch(() => undefined);
  if (!secret) return undefined;
  const config = JSON.parse(decode(secret.data?.['.dockerconfigjson'])) as { auths: Record<string, { username: string; password: string; auth: string }> };
  const entry = config.auths[REGISTRY];
  if (!entry) return undefined;
  expect(entry.username).toBe('AWS');
  expect(entry.auth).toBe(b64(`AWS:${entry.password}`));
  return entry.password;
}

/** Every namespace's token, once they all hold one satisfying `check`. */
function tokensEventually(nss: string[], check: (tokens: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
  return eventually(`tokens in ${nss.length} namespaces`, async () => {
    const tokens = await Promise.all(nss.map(tokenIn));
    return tokens.every((t): t is string => t !== undefined) && check(tokens) ? tokens : undefined;
  }, timeoutMs);
}

const tokenStatus = (rc: RegistryCredential) => rc.status?.tokens?.[0];
const condition = (rc: RegistryCredential, type: string) => rc.status?.conditions?.find((c) => c.type === type);

async function eventsOf(name: string, reason: string): Promise<Array<{ type: string; note: string }>> {
  const list = await s.client.list<{ reason: string; type: string; note: string; regarding: { name: string } }>(RESOURCES.events, 'default');
  return list.items.filter((e) => e.regarding.name === name && e.reason === reason);
}

describe('ECR tokens', () => {
  it('renders AWS:<token> from an access-key Secret into every selected namespace, with status.tokens and TokenRefreshed', async () => {
    await moto.createRepository(`${s.id}-app`, REGION);
    await awsKeys('aws-keys', 'AKIDSTATIC00000001');
    const nss = await labelledNamespaces('keys', 3, { ecr: `${s.id}-keys` });
    const name = `${s.id}-keys`;
    await s.credential(name, { secretName: 'token-pull', namespaces: { selector: { matchLabels: { ecr: `${s.id}-keys` } } }, registries: [ecrEntry({ secretRef: { name: 'aws-keys' } })] });

    const rc = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 3);
    expect(await tokensEventually(nss, (t) => t.every((x) => x === MOTO_TOKEN))).toHaveLength(3);
    expect(moto.count('GetAuthorizationToken', 'AKIDSTATIC00000001')).toBeGreaterThanOrEqual(1);
    const token = tokenStatus(rc);
    expect(token).toMatchObject({ source: `registries[0] ecr ${REGISTRY}`, result: 'Refreshed' });
    expect(Date.parse(token!.expiresAt!)).toBeGreaterThan(Date.now() + 11 * 3600_000);
    expect(condition(rc, 'TokenRefreshed')).toMatchObject({ status: 'True', reason: 'Refreshed' });
    expect(JSON.stringify(rc.status)).not.toContain(MOTO_TOKEN);
    await s.client.delete(RESOURCES.registryCredentials, undefined, name);
  });

  it('keyless: a ServiceAccount token from the TokenRequest API, traded with STS AssumeRoleWithWebIdentity', async () => {
    await s.client.create(RESOURCES.serviceAccounts, s.credentialsNamespace, { metadata: { name: 'ecr-puller' } });
    const nss = await labelledNamespaces('sa', 2, { ecr: `${s.id}-sa` });
    const name = `${s.id}-sa`;
    const before = moto.count('AssumeRoleWithWebIdentity');
    await s.credential(name, {
      secretName: 'token-pull',
      namespaces: { selector: { matchLabels: { ecr: `${s.id}-sa` } } },
      registries: [ecrEntry({ serviceAccountRef: { name: 'ecr-puller', roleARN: 'arn:aws:iam::123456789012:role/ecr-pull', stsEndpoint: moto.url } })],
    });
    const rc = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 2);
    expect(await tokensEventually(nss, (t) => t.every((x) => x === MOTO_TOKEN))).toHaveLength(2);
    expect(moto.count('AssumeRoleWithWebIdentity')).toBeGreaterThan(before);
    expect(tokenStatus(rc)).toMatchObject({ result: 'Refreshed' });

    // A ServiceAccount that does not exist: the TokenRequest's refusal is the code, nothing is rendered.
    const missing = `${s.id}-sa-missing`;
    await s.credential(missing, {
      secretName: 'token-pull',
      namespaces: { selector: { matchLabels: { ecr: `${s.id}-none` } } },
      registries: [ecrEntry({ serviceAccountRef: { name: 'nobody', roleARN: 'arn:aws:iam::123456789012:role/ecr-pull', stsEndpoint: moto.url } })],
    });
    const failed = await s.conditionEventually(missing, 'TokenFetchFailed');
    expect(condition(failed, 'TokenRefreshed')).toMatchObject({ status: 'False', reason: 'NotFound' });
    expect(tokenStatus(failed)).toMatchObject({ result: 'Failed', code: 'NotFound' });
    for (const n of [name, missing]) await s.client.delete(RESOURCES.registryCredentials, undefined, n);
  });

  it('refreshes before expiry across 200 namespaces with one GetAuthorizationToken per refresh; identical bytes write nothing', async () => {
    const key = 'AKIDREFRESH0000001';
    await awsKeys('aws-refresh', key);
    const nss = await labelledNamespaces('many', 200, { ecr: `${s.id}-many` });
    const name = `${s.id}-many`;
    await s.credential(name, { secretName: 'token-pull', namespaces: { selector: { matchLabels: { ecr: `${s.id}-many` } } }, registries: [ecrEntry({ secretRef: { name: 'aws-refresh' } })] });
    const ready = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 200, 90_000);
    await tokensEventually(nss, (t) => t.every((x) => x === MOTO_TOKEN));
    // One call for 200 namespaces (the first refresh comes at least 20 s after it).
    expect(moto.count('GetAuthorizationToken', key)).toBe(1);
    const versions = await Promise.all(nss.map(async (ns) => (await s.getSecret(ns, 'token-pull')).metadata.resourceVersion));
    const firstRefresh = tokenStatus(ready)!.refreshedAt;

    // moto answers the same token again: the refresh writes the status, not one Secret.
    const refreshed = await s.readyEventually(name, (r) => tokenStatus(r)?.refreshedAt !== firstRefresh, 60_000);
    expect(moto.count('GetAuthorizationToken', key)).toBe(2);
    // The lifetime the operator trusts (--token-max-lifetime): the next token must be in place before it ends.
    const trustedUntil = Date.parse(tokenStatus(refreshed)!.refreshedAt!) + 40_000;
    const after = await Promise.all(nss.map(async (ns) => (await s.getSecret(ns, 'token-pull')).metadata.resourceVersion));
    expect(after).toEqual(versions);

    // A new token per call, as AWS does: every namespace gets the next one, from one more call.
    moto.behaviour.rotate = true;
    const rotated = await tokensEventually(nss, (t) => t.every((x) => x !== MOTO_TOKEN && x === t[0]), 60_000);
    expect(Date.now()).toBeLessThan(trustedUntil);
    expect(moto.count('GetAuthorizationToken', key)).toBe(3);
    recordLeakForms(leakForms('AWS', rotated[0]!));
    expect(new Set(rotated).size).toBe(1);
    moto.behaviour.rotate = false;
    await s.client.delete(RESOURCES.registryCredentials, undefined, name);
  });

  it('keeps the last good token when ECR refuses, with TokenRefreshed=False and one Warning Event for the streak', async () => {
    const key = 'AKIDFAILURE0000001';
    await awsKeys('aws-fail', key);
    const nss = await labelledNamespaces('fail', 2, { ecr: `${s.id}-fail` });
    const name = `${s.id}-fail`;
    await s.credential(name, { secretName: 'token-pull', namespaces: { selector: { matchLabels: { ecr: `${s.id}-fail` } } }, registries: [ecrEntry({ secretRef: { name: 'aws-fail' } })] });
    await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 2);
    const good = await tokensEventually(nss, (t) => t.every((x) => x === MOTO_TOKEN));
    const bytes = await Promise.all(nss.map(async (ns) => (await s.getSecret(ns, 'token-pull')).data));

    moto.behaviour.failWith = { type: 'AccessDeniedException', status: 400 };
    try {
      const failing = await eventually('TokenRefreshed=False', async () => {
        const rc = await s.getCredential(name);
        return condition(rc, 'TokenRefreshed')?.status === 'False' ? rc : undefined;
      }, 60_000);
      expect(condition(failing, 'TokenRefreshed')).toMatchObject({ reason: 'AccessDeniedException' });
      expect(tokenStatus(failing)).toMatchObject({ result: 'Failed', code: 'AccessDeniedException' });
      // The last good token is still used: Ready stays True and says so.
      expect(condition(failing, 'Ready')).toMatchObject({ status: 'True' });
      expect(condition(failing, 'Ready')?.message).toContain('failed to refresh (AccessDeniedException)');
      // Retries (5 s, then 10 s) record no further Event.
      const calls = moto.count('GetAuthorizationToken', key);
      await eventually('two more retries', async () => moto.count('GetAuthorizationToken', key) >= calls + 2, 40_000);
      const warnings = await eventsOf(name, 'TokenRefreshFailed');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.type).toBe('Warning');
      expect(warnings[0]!.note).toContain('AccessDeniedException');
      expect(await Promise.all(nss.map(async (ns) => (await s.getSecret(ns, 'token-pull')).data))).toEqual(bytes);
      expect(await Promise.all(nss.map(tokenIn))).toEqual(good);
    } finally {
      moto.behaviour.failWith = undefined;
    }
    await eventually('TokenRefreshed=True again', async () => condition(await s.getCredential(name), 'TokenRefreshed')?.status === 'True', 60_000);
    expect(await eventsOf(name, 'TokenRefreshFailed')).toHaveLength(1);
    await eventually('a Normal TokenRefreshed Event', async () => (await eventsOf(name, 'TokenRefreshed')).length === 1);
  });
});
