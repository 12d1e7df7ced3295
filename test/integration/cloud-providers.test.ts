// The Artifact Registry and ACR token providers, through the clouds' own SDKs (google-auth-library,
// @azure/identity), against loopback stand-ins of Google's OAuth2/STS/IAM credentials endpoints and
// of Microsoft Entra ID and ACR's token exchange. Keyless auth uses real ServiceAccount tokens of
// the run's control plane (TokenRequest), which the stand-ins verify with TokenReview. The last
// blocks open a real registry (distribution behind its token server) with the fetched credentials,
// and run the operator, which renders one fetched token of each into several namespaces.
// Only the namespace and ServiceAccounts this file creates are used.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AcrSource, ArtifactRegistrySource } from '../../src/api/schema.ts';
import { authEntry } from '../../src/controller/dockerconfig.ts';
import { serviceAccountTokens } from '../../src/controller/tokens/context.ts';
import { TokenFetchError, type FetchedToken, type TokenContext } from '../../src/controller/tokens/provider.ts';
import { ACR_USERNAME, acrProvider } from '../../src/controller/tokens/providers/acr.ts';
import { ARTIFACT_REGISTRY_USERNAME, artifactRegistryProvider } from '../../src/controller/tokens/providers/artifact-registry.ts';
import { jwtExpiry } from '../../src/controller/tokens/providers/jwt-expiry.ts';
import { RESOURCES, type KubeClient } from '../../src/kube/client.ts';
import { createNamespace, testClient, uniqueName } from '../support/cluster.ts';
import { AzureStandin, trustTestCA } from '../support/cloud-standins/azure.ts';
import { GoogleStandin, generateServiceAccountKey } from '../support/cloud-standins/google.ts';
import { tokenReviewVerifier } from '../support/cloud-standins/kube.ts';
import { TestRegistry } from '../support/registry.ts';
import { cleanupImagesAndAuthfiles, inspect, pushImage, writeAuthfile } from '../support/oci-image.ts';
import { leakForms, recordLeakForms } from '../support/operator.ts';
import { Scenario, decode } from '../support/scenario.ts';

const WIP_AUDIENCE = `//iam.googleapis.com/projects/${Date.now()}/locations/global/workloadIdentityPools/cluster/providers/regcred`;
const GSA = 'puller@regcred-test.iam.gserviceaccount.com';

let client: KubeClient;
let ns: string;
let google: GoogleStandin;
let azure: AzureStandin;
const registries: TestRegistry[] = [];

beforeAll(async () => {
  client = testClient();
  ns = uniqueName('cloudtok');
  await createNamespace(client, ns, { 'regcred.dev/ignore': 'true' });
  for (const name of ['gar-puller', 'acr-puller', 'intruder']) {
    await client.create(RESOURCES.serviceAccounts, ns, { metadata: { name } });
  }
  const verifySubject = tokenReviewVerifier(client);
  google = await GoogleStandin.start({ verifySubject });
  azure = await AzureStandin.start({ verifySubject });
  trustTestCA(azure.caPem);
});

afterAll(async () => {
  await Promise.all([google?.close(), azure?.close(), ...registries.map((r) => r.dispose())]);
  cleanupImagesAndAuthfiles();
  if (ns) await client.delete(RESOURCES.namespaces, undefined, ns).catch(() => undefined);
});

/** What the token engine gives a provider: Secret keys from a map, real TokenRequest tokens of `ns` (the engine's own code). */
function context(secrets: Record<string, Record<string, string>> = {}, signal = new AbortController().signal): TokenContext & { tokenRequests: number } {
  const tokens = serviceAccountTokens(client, ns);
  const ctx = {
    tokenRequests: 0,
    signal,
    secretKey(name: string, key: string): string {
      const value = secrets[name]?.[key];
      if (value === undefined) throw new TokenFetchError('SourceNotFound', `Secret ${name} has no key ${key}`);
      return value;
    },
    async serviceAccountToken(name: string, audience: string): Promise<string> {
      ctx.tokenRequests++;
      return tokens(name, audience, signal);
    },
  };
  return ctx;
}

async function fetchError(work: Promise<FetchedToken>): Promise<TokenFetchError> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TokenFetchError);
  return err as TokenFetchError;
}

/** A token that lives about `seconds` from now, give or take the request's duration. */
function expectLifetime(token: FetchedToken, seconds: number): void {
  const left = (token.expiresAt.getTime() - Date.now()) / 1000;
  expect(left).toBeGreaterThan(seconds - 60);
  expect(left).toBeLessThanOrEqual(seconds + 1);
}

describe('Artifact Registry with a service-account key', () => {
  it('a JWT-bearer grant signed with the key gives an access token for oauth2accesstoken, one call per fetch', async () => {
    const key = generateServiceAccountKey(GSA, google.tokenUrl);
    google.trustKey(key);
    const entry: ArtifactRegistrySource = { servers: ['europe-docker.pkg.dev', 'us-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key' } } };
    const before = google.calls.get('token');
    // No tokenURI: the request goes to the key's own token_uri.
    const token = await artifactRegistryProvider.fetch(entry, context({ 'gcp-key': { 'key.json': key.json } }));
    expect(google.calls.get('token')).toBe(before + 1);
    expect(token.username).toBe(ARTIFACT_REGISTRY_USERNAME);
    expect(google.issued.get(token.password)?.principal).toBe(GSA);
    expectLifetime(token, 3599);
    expect(artifactRegistryProvider.servers(entry)).toEqual(['europe-docker.pkg.dev', 'us-docker.pkg.dev']);
  });

  it('tokenURI overrides the key\'s token_uri, and a custom data key is read', async () => {
    const key = generateServiceAccountKey(GSA, 'http://127.0.0.1:9/unreachable');
    google.trustKey(key);
    const token = await artifactRegistryProvider.fetch(
      { servers: ['europe-docker.pkg.dev'], tokenURI: google.tokenUrl, auth: { secretRef: { name: 'gcp', key: 'sa.json' } } },
      context({ gcp: { 'sa.json': key.json } }),
    );
    expect(google.issued.has(token.password)).toBe(true);
  });

  it('a key Google does not know is invalid_grant, and the error carries no key material', async () => {
    const unknown = generateServiceAccountKey(GSA, google.tokenUrl);
    const err = await fetchError(artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key' } } }, context({ 'gcp-key': { 'key.json': unknown.json } })));
    expect(err.code).toBe('invalid_grant');
    const privateKey = (JSON.parse(unknown.json) as { private_key: string }).private_key;
    expect(err.message).not.toContain(privateKey.split('\n')[1]);
    expect(JSON.stringify(err)).not.toContain('PRIVATE KEY');
  });

  it('a Secret value that is not a service-account key is InvalidKey, without its content', async () => {
    const err = await fetchError(artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key' } } }, context({ 'gcp-key': { 'key.json': 'not-json-s3cr3t' } })));
    expect(err.code).toBe('InvalidKey');
    expect(err.message).not.toContain('s3cr3t');
  });

  it('a cancelled fetch ends with Aborted and calls nothing', async () => {
    const key = generateServiceAccountKey(GSA, google.tokenUrl);
    google.trustKey(key);
    const aborted = new AbortController();
    aborted.abort();
    const before = google.calls.get('token');
    const err = await fetchError(artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], auth: { secretRef: { name: 'k' } } }, context({ k: { 'key.json': key.json } }, aborted.signal)));
    expect(err.code).toBe('Aborted');
    expect(google.calls.get('token')).toBe(before);
  });
});

describe('Artifact Registry with a ServiceAccount (workload identity federation)', () => {
  beforeAll(() => {
    google.addWorkloadIdentityProvider(WIP_AUDIENCE);
  });

  it('a TokenRequest token for the provider audience is exchanged at STS for the federated principal\'s token', async () => {
    const ctx = context();
    const before = google.calls.get('sts');
    const token = await artifactRegistryProvider.fetch(
      { servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'gar-puller', audience: WIP_AUDIENCE } } },
      ctx,
    );
    expect(ctx.tokenRequests).toBe(1);
    expect(google.calls.get('sts')).toBe(before + 1);
    expect(token.username).toBe(ARTIFACT_REGISTRY_USERNAME);
    expect(google.issued.get(token.password)?.principal).toBe(`system:serviceaccount:${ns}:gar-puller`);
    expectLifetime(token, 3599);
  });

  it('with serviceAccountEmail the federated token impersonates the Google service account (generateAccessToken)', async () => {
    google.allowImpersonation(GSA, `system:serviceaccount:${ns}:gar-puller`);
    const before = { sts: google.calls.get('sts'), iam: google.calls.get('generateAccessToken') };
    const token = await artifactRegistryProvider.fetch(
      { servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'gar-puller', audience: WIP_AUDIENCE, serviceAccountEmail: GSA, impersonationURL: google.url } } },
      context(),
    );
    expect(google.calls.get('sts')).toBe(before.sts + 1);
    expect(google.calls.get('generateAccessToken')).toBe(before.iam + 1);
    expect(google.issued.get(token.password)?.principal).toBe(GSA);
    // expireTime has one-second resolution.
    expectLifetime(token, 3599);
  });

  it('a principal not allowed to impersonate gets PERMISSION_DENIED; an unknown pool provider gets invalid_target', async () => {
    const denied = await fetchError(artifactRegistryProvider.fetch(
      { servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'intruder', audience: WIP_AUDIENCE, serviceAccountEmail: GSA, impersonationURL: google.url } } },
      context(),
    ));
    expect(denied.code).toBe('PERMISSION_DENIED');
    const unknown = await fetchError(artifactRegistryProvider.fetch(
      { servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'gar-puller', audience: `${WIP_AUDIENCE}-other` } } },
      context(),
    ));
    expect(unknown.code).toBe('invalid_target');
  });

  it('a ServiceAccount that does not exist fails with the TokenRequest\'s code, before STS is asked', async () => {
    const before = google.calls.get('sts');
    const err = await fetchError(artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'missing', audience: WIP_AUDIENCE } } }, context()));
    expect(err.code).toBe('NotFound');
    expect(google.calls.get('sts')).toBe(before);
  });

  it('a ServiceAccount token the control plane does not vouch for is invalid_grant', async () => {
    const ctx = context();
    // A token of the right shape and audience, but not signed by the cluster's issuer.
    ctx.serviceAccountToken = async () => {
      const real = await client.requestServiceAccountToken(ns, 'gar-puller', WIP_AUDIENCE, 600);
      const [header, claims] = real.split('.');
      return `${header}.${claims}.${randomBytes(256).toString('base64url')}`;
    };
    const err = await fetchError(artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], tokenURI: google.stsUrl, auth: { serviceAccountRef: { name: 'gar-puller', audience: WIP_AUDIENCE } } }, ctx));
    expect(err.code).toBe('invalid_grant');
  });
});

describe('Azure Container Registry', () => {
  const tenantID = randomUUID();
  const clientID = randomUUID();
  const secret = `acr-${randomBytes(16).toString('hex')}`;
  let entry: (auth: AcrSource['auth']) => AcrSource;

  beforeAll(() => {
    azure.registerApp(clientID, { tenant: tenantID, secret, federated: { [`system:serviceaccount:${ns}:acr-puller`]: 'api://AzureADTokenExchange' } });
    entry = (auth) => ({ server: azure.acrServer, tenantID, clientID, authorityHost: azure.authorityHost, auth });
  });

  it('a client secret gives an Entra token, exchanged for an ACR refresh token whose exp is the expiry', async () => {
    const before = { token: azure.calls.get('token'), exchange: azure.calls.get('exchange') };
    const token = await acrProvider.fetch(entry({ secretRef: { name: 'acr-sp' } }), context({ 'acr-sp': { clientSecret: secret } }));
    expect(azure.calls.get('token')).toBe(before.token + 1);
    expect(azure.calls.get('exchange')).toBe(before.exchange + 1);
    expect(token.username).toBe(ACR_USERNAME);
    expect(azure.refreshTokens.has(token.password)).toBe(true);
    expect(token.expiresAt).toEqual(jwtExpiry(token.password));
    expectLifetime(token, 3 * 3600);
    expect(acrProvider.servers(entry({ secretRef: { name: 'acr-sp' } }))).toEqual([new URL(azure.acrServer).host]);
  });

  it('a ServiceAccount token is the federated client assertion', async () => {
    const ctx = context();
    const token = await acrProvider.fetch(entry({ serviceAccountRef: { name: 'acr-puller' } }), ctx);
    expect(ctx.tokenRequests).toBe(1);
    expect(azure.refreshTokens.has(token.password)).toBe(true);
  });

  it('a wrong client secret is AADSTS7000215 and nothing is exchanged; the secret is not in the error', async () => {
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const before = azure.calls.get('exchange');
    const err = await fetchError(acrProvider.fetch(entry({ secretRef: { name: 'acr-sp' } }), context({ 'acr-sp': { clientSecret: wrong } })));
    expect(err.code).toBe('AADSTS7000215');
    expect(azure.calls.get('exchange')).toBe(before);
    expect(`${err.message} ${JSON.stringify(err)}`).not.toContain(wrong);
  });

  it('a ServiceAccount without a federated identity credential is AADSTS70021', async () => {
    const err = await fetchError(acrProvider.fetch(entry({ serviceAccountRef: { name: 'intruder' } }), context()));
    expect(err.code).toBe('AADSTS70021');
  });

  it('a ServiceAccount that does not exist fails with the TokenRequest\'s code, not one of @azure/identity\'s wrappers', async () => {
    const before = azure.calls.get('token');
    const err = await fetchError(acrProvider.fetch(entry({ serviceAccountRef: { name: 'missing' } }), context()));
    expect(err.code).toBe('NotFound');
    expect(azure.calls.get('token')).toBe(before);
  });

  it('an app unknown in the tenant is AADSTS700016', async () => {
    const err = await fetchError(acrProvider.fetch({ ...entry({ secretRef: { name: 'acr-sp' } }), clientID: randomUUID() }, context({ 'acr-sp': { clientSecret: secret } })));
    expect(err.code).toBe('AADSTS700016');
  });
});

// The rendered credentials against a real registry: distribution's token server accepts the user
// and password the cloud issued (set as its htpasswd entry, as the cloud's registry would know
// them), and the registry then serves the image; a different token of the same kind is refused.
describe('a real registry behind token auth', () => {
  async function opensRegistry(user: string, fetchToken: () => Promise<FetchedToken>): Promise<void> {
    const first = await fetchToken();
    const registry = await TestRegistry.start({ auth: 'token', users: { [user]: first.password } });
    registries.push(registry);
    const image = `${user}/hello:v1`;
    await pushImage(registry, image, first.username, first.password);
    const rendered = (t: FetchedToken) => writeAuthfile(JSON.stringify({ auths: { [registry.host]: authEntry(t.username, t.password) } }));
    const ok = await inspect(registry, image, rendered(first));
    expect(ok.ok, ok.stderr).toBe(true);
    const other = await fetchToken();
    expect(other.password).not.toBe(first.password);
    const refused = await inspect(registry, image, rendered(other));
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/\b401\b|unauthorized/i);
  }

  it('the Artifact Registry user and access token', async () => {
    const key = generateServiceAccountKey(GSA, google.tokenUrl);
    google.trustKey(key);
    await opensRegistry(ARTIFACT_REGISTRY_USERNAME, () =>
      artifactRegistryProvider.fetch({ servers: ['europe-docker.pkg.dev'], auth: { secretRef: { name: 'k' } } }, context({ k: { 'key.json': key.json } })));
  });

  it('the ACR user and refresh token', async () => {
    const tenantID = randomUUID();
    const clientID = randomUUID();
    const secret = randomBytes(16).toString('hex');
    azure.registerApp(clientID, { tenant: tenantID, secret });
    await opensRegistry(ACR_USERNAME, () =>
      acrProvider.fetch({ server: azure.acrServer, tenantID, clientID, authorityHost: azure.authorityHost, auth: { secretRef: { name: 's' } } }, context({ s: { clientSecret: secret } })));
  });
});

// The operator end to end: one RegistryCredential with an artifactRegistry entry (a key in an
// opted-in source Secret) and an acr entry (keyless, the credentials namespace's ServiceAccount
// federated with the Entra stand-in), matched by three namespaces. Each token is fetched once and
// written into all of them; status.tokens and TokenRefreshed report it; no token reaches the logs.
describe('the operator renders Artifact Registry and ACR tokens', () => {
  const s = new Scenario('cloudop');
  const tenantID = randomUUID();
  const clientID = randomUUID();
  const caDir = mkdtempSync(join(tmpdir(), 'regcred-entra-ca-'));

  beforeAll(async () => {
    // The operator trusts the Entra stand-in's CA the standard way: NODE_EXTRA_CA_CERTS, read by
    // the operator process at its start (the variable has no effect on this, already running, one).
    writeFileSync(join(caDir, 'ca.crt'), azure.caPem);
    const previous = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = join(caDir, 'ca.crt');
    try {
      await s.setup();
    } finally {
      if (previous === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = previous;
    }
    await s.client.create(RESOURCES.serviceAccounts, s.credentialsNamespace, { metadata: { name: 'acr-puller' } });
    azure.registerApp(clientID, { tenant: tenantID, federated: { [`system:serviceaccount:${s.credentialsNamespace}:acr-puller`]: 'api://AzureADTokenExchange' } });
  });

  afterAll(async () => {
    await s.teardown();
    rmSync(caDir, { recursive: true, force: true });
  });

  it('fetches each token once and writes both into every matching namespace', async () => {
    const key = generateServiceAccountKey(GSA, google.tokenUrl);
    google.trustKey(key);
    recordLeakForms([(JSON.parse(key.json) as { private_key: string }).private_key.split('\n')[1] ?? '']);
    await s.sourceSecret('gcp-key', { 'key.json': key.json });
    const namespaces = await Promise.all(['a', 'b', 'c'].map((suffix) => s.namespace(`ns-${suffix}`)));
    const acrHost = new URL(azure.acrServer).host;
    const before = { google: google.calls.get('token'), entra: azure.calls.get('token'), exchange: azure.calls.get('exchange') };
    const name = `${s.id}-clouds`;
    await s.credential(name, {
      secretName: 'regcred',
      registries: [
        { artifactRegistry: { servers: ['europe-docker.pkg.dev', 'us-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key' } } } },
        { acr: { server: azure.acrServer, tenantID, clientID, authorityHost: azure.authorityHost, auth: { serviceAccountRef: { name: 'acr-puller' } } } },
      ],
      namespaces: { include: [`${s.id}-ns-*`] },
    });

    const rc = await s.readyEventually(name, (r) => r.status?.tokens?.length === 2 && r.status.tokens.every((t) => t.result === 'Refreshed'), 60_000);
    const rendered = await Promise.all(namespaces.map(async (ns) => {
      const secret = await s.secretEventually(ns, 'regcred');
      return (JSON.parse(decode(secret.data?.['.dockerconfigjson'])) as { auths: Record<string, { username: string; password: string }> }).auths;
    }));
    const first = rendered[0]!;
    expect(Object.keys(first).sort()).toEqual([acrHost, 'europe-docker.pkg.dev', 'us-docker.pkg.dev'].sort());
    const gar = first['europe-docker.pkg.dev']!;
    const acrAuth = first[acrHost]!;
    recordLeakForms([...leakForms(gar.username, gar.password), ...leakForms(acrAuth.username, acrAuth.password)]);
    expect(gar.username).toBe(ARTIFACT_REGISTRY_USERNAME);
    expect(google.issued.get(gar.password)?.principal).toBe(GSA);
    expect(first['us-docker.pkg.dev']).toEqual(gar);
    expect(acrAuth.username).toBe(ACR_USERNAME);
    expect(azure.refreshTokens.has(acrAuth.password)).toBe(true);
    for (const auths of rendered) expect(auths).toEqual(first);
    // One fetch per token, not one per namespace.
    expect(google.calls.get('token') - before.google).toBe(1);
    expect(azure.calls.get('token') - before.entra).toBe(1);
    expect(azure.calls.get('exchange') - before.exchange).toBe(1);

    const tokens = rc.status?.tokens ?? [];
    expect(tokens.map((t) => t.source)).toEqual([
      expect.stringMatching(/^registries\[0\] artifactRegistry /),
      expect.stringMatching(/^registries\[1\] acr /),
    ]);
    const acrToken = tokens.find((t) => t.source.startsWith('registries[1]'));
    expect(new Date(acrToken?.expiresAt ?? 0).getTime()).toBe(jwtExpiry(acrAuth.password)?.getTime());
    expect(rc.status?.conditions?.find((c) => c.type === 'TokenRefreshed')).toMatchObject({ status: 'True', reason: 'Refreshed' });
    const status = JSON.stringify(rc.status);
    expect(status).not.toContain(gar.password);
    expect(status).not.toContain(acrAuth.password);
  });
});
