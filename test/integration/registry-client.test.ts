// What the operator renders works with a real client against a real registry: Debian's
// docker-registry (distribution 2.8) on loopback with TLS from a test CA, under htpasswd auth and
// under token auth (distribution's own token server), and skopeo reading the managed Secret's
// .dockerconfigjson as its auth file. Rotation: the registry's password and the source Secret
// change; the newly rendered file works, the old one gets 401, and CredentialsValid follows.
// Needs docker-registry and skopeo (make registry-tools, test/tools/install-registry-tools.sh).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALIDATE_REQUESTED_ANNOTATION } from '../../src/api/labels.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { TestRegistry } from '../support/registry.ts';
import { authfileFor, cleanupImagesAndAuthfiles, inspect, pushImage, writeAuthfile } from '../support/oci-image.ts';
import { decode, Scenario } from '../support/scenario.ts';

const s = new Scenario('regcli');
const registries: TestRegistry[] = [];
beforeAll(() => s.setup());
afterAll(async () => {
  await Promise.all(registries.map((r) => r.dispose()));
  cleanupImagesAndAuthfiles();
  await s.teardown();
});

const USER = 'alice';
// Token auth (distribution's token server) grants repository access below `<user>/` only.
const IMAGE = `${USER}/hello:v1`;
const configOf = (secret: Secret) => decode(secret.data?.['.dockerconfigjson']);
const unauthorized = /\b401\b|unauthorized/i;

type RegistryStatus = NonNullable<NonNullable<RegistryCredential['status']>['registries']>[number];

/** The registry's entry in status once a check from `since` on (one-second resolution) says `result`. */
async function checked(name: string, result: RegistryStatus['result'], since = ''): Promise<RegistryStatus> {
  return eventually(`a check of ${name} from ${since || 'the start'} on with result ${result}`, async () => {
    const r = (await s.getCredential(name)).status?.registries?.[0];
    return r && r.checkedAt >= since && r.result === result ? r : undefined;
  });
}

/** Asks for a check now, through the annotation. */
async function requestCheck(name: string): Promise<string> {
  const at = new Date().toISOString();
  await s.client.patch(RESOURCES.registryCredentials, undefined, name, { metadata: { annotations: { [VALIDATE_REQUESTED_ANNOTATION]: at } } });
  return at.replace(/\.\d+Z$/, 'Z');
}

describe.each(['htpasswd', 'token'] as const)('%s auth', (auth) => {
  it('the managed Secret is a working auth file for skopeo, before and after a rotation', async () => {
    const first = s.password(USER);
    const registry = await TestRegistry.start({ auth, users: { [USER]: first } });
    registries.push(registry);
    expect(await registry.challenge()).toMatch(auth === 'htpasswd' ? /^Basic realm=/ : /^Bearer realm="https:\/\/127\.0\.0\.1:\d+\/token\/",service=/);
    const pushed = await pushImage(registry, IMAGE, USER, first);

    await s.sourceSecret(`${auth}-pw`, { password: first });
    await s.client.create(RESOURCES.configMaps, s.credentialsNamespace, { metadata: { name: `${auth}-ca` }, data: { 'ca.crt': registry.caPem } });
    const ns = await s.namespace(`${auth}-client`);
    const rc = await s.credential(`${s.id}-${auth}`, {
      secretName: 'regcred',
      registries: [{
        server: registry.host,
        username: USER,
        passwordFrom: { secretKeyRef: { name: `${auth}-pw`, key: 'password' } },
        caBundleFrom: { configMapKeyRef: { name: `${auth}-ca`, key: 'ca.crt' } },
      }],
      namespaces: { include: [ns] },
    });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    expect(await checked(rc.metadata.name, 'Valid')).toMatchObject({ server: registry.host });
    const valid = await s.getCredential(rc.metadata.name);
    expect(valid.status?.conditions?.find((c) => c.type === 'CredentialsValid')).toMatchObject({ status: 'True', reason: 'Valid' });
    const before = await s.secretEventually(ns, 'regcred');
    expect(before.type).toBe('kubernetes.io/dockerconfigjson');
    const oldAuthfile = writeAuthfile(configOf(before));

    const ok = await inspect(registry, IMAGE, oldAuthfile);
    expect(ok.ok, `skopeo inspect with the rendered config: ${ok.stderr}`).toBe(true);
    expect(JSON.parse(ok.stdout).Digest).toBe(pushed.manifestDigest);

    // An auth file that names the registry but carries a wrong password is refused: the success
    // above is the rendered credentials' doing, not an open registry.
    const wrong = authfileFor(registry, USER, 'not-the-password');
    const refused = await inspect(registry, IMAGE, wrong);
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(unauthorized);

    // Rotate: the registry first (the old rendered file stops working), then the source Secret.
    const second = s.password(USER);
    await registry.setPassword(USER, second);
    // The registry changed under the credential: a check asked for now finds the password refused.
    const asked = await requestCheck(rc.metadata.name);
    await checked(rc.metadata.name, 'Unauthorized', asked);
    const refusedStatus = await s.getCredential(rc.metadata.name);
    expect(refusedStatus.status?.conditions?.find((c) => c.type === 'CredentialsValid')).toMatchObject({ status: 'False', reason: 'Unauthorized' });
    expect(refusedStatus.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    const rotatedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await s.updateSourceSecret(`${auth}-pw`, { password: second });
    const after = await s.secretEventually(ns, 'regcred', (x) => x.data?.['.dockerconfigjson'] !== before.data?.['.dockerconfigjson']);
    const newAuthfile = writeAuthfile(configOf(after));

    const rotated = await inspect(registry, IMAGE, newAuthfile);
    expect(rotated.ok, `skopeo inspect with the rotated config: ${rotated.stderr}`).toBe(true);
    const stale = await inspect(registry, IMAGE, oldAuthfile);
    expect(stale.ok).toBe(false);
    expect(stale.stderr).toMatch(unauthorized);
    // The new config is checked on its own, and the status follows.
    await checked(rc.metadata.name, 'Valid', rotatedAt);
    const status = (await s.getCredential(rc.metadata.name)).status;
    for (const pw of [first, second]) expect(JSON.stringify(status)).not.toContain(pw);
  });
});

describe('the test registry', () => {
  it('stops (unreachable) and starts again on the same port with the same storage', async () => {
    const pw = s.password(USER);
    const registry = await TestRegistry.start({ auth: 'htpasswd', users: { [USER]: pw } });
    registries.push(registry);
    await pushImage(registry, IMAGE, USER, pw);
    const authfile = authfileFor(registry, USER, pw);

    await registry.stop();
    const down = await inspect(registry, IMAGE, authfile);
    expect(down.ok).toBe(false);
    expect(down.stderr).toMatch(/connection refused/i);

    await registry.start();
    const up = await inspect(registry, IMAGE, authfile);
    expect(up.ok, up.stderr).toBe(true);
  });
});
