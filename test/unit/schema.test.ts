import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildCrd } from '../../src/api/crd.ts';
import { crdManifestFiles } from '../../src/api/manifests.ts';
import { resolveSpec } from '../../src/api/schema.ts';
import { INVALID_SPECS } from '../support/invalid-specs.ts';

function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = ''): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}[${i}]`));
  else if (node && typeof node === 'object') {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}.${k}`);
  }
}

describe('generated CRD', () => {
  it('matches the committed files (run make manifests after changing src/api)', () => {
    for (const [path, text] of crdManifestFiles()) expect(readFileSync(path, 'utf8'), path).toBe(text);
  });

  it('is a structural schema: no $ref, no additionalProperties beside properties, RE2-safe patterns', () => {
    const crd = buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: unknown } }> } };
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    const problems: string[] = [];
    walk(schema, (n, path) => {
      if ('$ref' in n) problems.push(`${path}: $ref`);
      if ('properties' in n && 'additionalProperties' in n) problems.push(`${path}: additionalProperties beside properties`);
      if (typeof n.pattern === 'string' && /\(\?[=!<]|\\[1-9]/.test(n.pattern)) problems.push(`${path}: pattern uses lookaround or backreference`);
      if (('properties' in n || 'items' in n) && !('type' in n)) problems.push(`${path}: missing type`);
    });
    expect(problems).toEqual([]);
  });

  it('carries every zod rule as a CEL rule with the same message', () => {
    const rules: string[] = [];
    walk(buildCrd(), (n) => {
      if (Array.isArray(n['x-kubernetes-validations'])) for (const r of n['x-kubernetes-validations']) rules.push(r.message);
    });
    for (const c of INVALID_SPECS.filter((c) => c.zod === undefined)) {
      expect(rules.some((m) => c.api.startsWith(m) || m.startsWith(c.api)), c.name).toBe(true);
    }
  });
});

describe('resolveSpec', () => {
  it.each(INVALID_SPECS)('rejects $name with a clear message', ({ spec, api, zod }) => {
    const r = resolveSpec('x', spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(zod ?? api);
  });

  it('accepts both samples and fills in defaults', () => {
    for (const file of ['config/samples/private-registry.yaml', 'config/samples/dockerhub-and-ghcr.yaml']) {
      const rc = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).find((d) => d.kind === 'RegistryCredential');
      const r = resolveSpec(rc.metadata.name, rc.spec);
      expect(r.ok, file).toBe(true);
    }
    const r = resolveSpec('acme', { registries: [{ server: 'r.io', username: 'u', passwordFrom: { secretKeyRef: { name: 's', key: 'k' } } }] });
    expect(r).toMatchObject({
      ok: true,
      spec: {
        secretName: 'acme',
        namespaces: { exclude: ['kube-system', 'kube-public', 'kube-node-lease'] },
        serviceAccounts: { names: ['default'] },
        deletionPolicy: 'Delete',
      },
    });
  });

  it('refuses a defaulted secretName that is not a valid Secret name', () => {
    const r = resolveSpec('Upper', { registries: [{ dockerConfigFrom: { secretRef: { name: 'g' } } }] });
    expect(r).toMatchObject({ ok: false });
  });
});

describe('cloud token entries (ecr, artifactRegistry, acr)', () => {
  const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const spec = (entry: Record<string, unknown>) => ({ registries: [entry] });
  const message = (entry: Record<string, unknown>) => {
    const r = resolveSpec('x', spec(entry));
    return r.ok ? 'ok' : r.message;
  };

  it.each([
    ['ecr with an access-key Secret', { ecr: { registry: ECR, auth: { secretRef: { name: 'aws-keys' } } } }],
    ['ecr keyless, region and endpoints given', { ecr: { registry: 'mirror.example', region: 'eu-west-1', endpoint: 'https://ecr.example', auth: { serviceAccountRef: { name: 'puller', roleARN: 'arn:aws:iam::123456789012:role/pull', audience: 'sts.amazonaws.com', stsEndpoint: 'https://sts.example' } } } }],
    ['ecr in China', { ecr: { registry: '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', auth: { secretRef: { name: 'k' } } } }],
    ['artifactRegistry with a key', { artifactRegistry: { servers: ['europe-docker.pkg.dev', 'us-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key', key: 'key.json' } } } }],
    ['artifactRegistry keyless', { artifactRegistry: { servers: ['europe-docker.pkg.dev'], auth: { serviceAccountRef: { name: 'gar', audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k', serviceAccountEmail: 'puller@proj.iam.gserviceaccount.com' } } } }],
    ['acr with a client secret', { acr: { server: 'myregistry.azurecr.io', tenantID: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientID: '00000000-1111-2222-3333-444444444444', auth: { secretRef: { name: 'acr-sp' } } } }],
    ['acr keyless on a test endpoint', { acr: { server: 'http://127.0.0.1:5000', tenantID: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientID: '00000000-1111-2222-3333-444444444444', authorityHost: 'http://127.0.0.1:8080', auth: { serviceAccountRef: { name: 'acr-puller' } } } }],
    ['a token entry with caBundleFrom and insecureSkipTLSVerify', { ecr: { registry: ECR, auth: { secretRef: { name: 'k' } } }, insecureSkipTLSVerify: true, caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.pem' } } }],
  ])('accepts %s', (_name, entry) => {
    expect(message(entry)).toBe('ok');
  });

  it.each([
    ['two kinds in one entry', { server: 'r.io', username: 'u', passwordFrom: { secretKeyRef: { name: 's', key: 'k' } }, ecr: { registry: ECR, auth: { secretRef: { name: 'k' } } } }, 'each registry entry needs exactly one of server or dockerConfigFrom, or one cloud token source'],
    ['ecr and acr together', { ecr: { registry: ECR, auth: { secretRef: { name: 'k' } } }, acr: { server: 'a.azurecr.io', tenantID: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientID: '00000000-1111-2222-3333-444444444444', auth: { secretRef: { name: 'k' } } } }, 'exactly one of server or dockerConfigFrom'],
    ['a user name on a token entry', { ecr: { registry: ECR, auth: { secretRef: { name: 'k' } } }, username: 'AWS' }, 'ecr, artifactRegistry and acr cannot be combined with username'],
    ['an email on a token entry', { artifactRegistry: { servers: ['europe-docker.pkg.dev'], auth: { secretRef: { name: 'k' } } }, email: 'a@b.c' }, 'cannot be combined with username, usernameFrom, passwordFrom or email'],
    ['both auth modes', { ecr: { registry: ECR, auth: { secretRef: { name: 'k' }, serviceAccountRef: { name: 'sa', roleARN: 'arn:aws:iam::123456789012:role/pull' } } } }, 'auth needs exactly one of secretRef or serviceAccountRef'],
    ['no auth mode', { ecr: { registry: ECR, auth: {} } }, 'auth needs exactly one of secretRef or serviceAccountRef'],
    ['an ECR host without a region, and no region', { ecr: { registry: 'mirror.example', auth: { secretRef: { name: 'k' } } } }, 'ecr.region is required'],
    ['a registry with a scheme', { ecr: { registry: `https://${ECR}`, region: 'eu-west-1', auth: { secretRef: { name: 'k' } } } }, 'must be a host name'],
    ['keyless ECR without a role', { ecr: { registry: ECR, auth: { serviceAccountRef: { name: 'sa' } } } }, 'spec.registries[0].ecr.auth.serviceAccountRef.roleARN'],
    ['an artifactRegistry host twice', { artifactRegistry: { servers: ['europe-docker.pkg.dev', 'europe-docker.pkg.dev'], auth: { secretRef: { name: 'k' } } } }, 'must not list a host twice'],
    ['no artifactRegistry server', { artifactRegistry: { servers: [], auth: { secretRef: { name: 'k' } } } }, 'spec.registries[0].artifactRegistry.servers'],
    ['keyless artifactRegistry without an audience', { artifactRegistry: { servers: ['europe-docker.pkg.dev'], auth: { serviceAccountRef: { name: 'sa' } } } }, 'artifactRegistry.auth.serviceAccountRef.audience'],
    ['an acr tenant that is no UUID', { acr: { server: 'a.azurecr.io', tenantID: 'contoso', clientID: '00000000-1111-2222-3333-444444444444', auth: { secretRef: { name: 'k' } } } }, 'must be a UUID'],
  ])('refuses %s', (_name, entry, want) => {
    expect(message(entry)).toContain(want);
  });

  it('writes the same rules into the CRD as CEL', () => {
    const rules: string[] = [];
    walk(buildCrd(), (n) => {
      for (const v of (n['x-kubernetes-validations'] as Array<{ message: string }> | undefined) ?? []) rules.push(v.message);
    });
    expect(rules).toEqual(expect.arrayContaining([
      'each registry entry needs exactly one of server or dockerConfigFrom, or one cloud token source: ecr, artifactRegistry or acr',
      'auth needs exactly one of secretRef or serviceAccountRef',
      'ecr.region is required when the registry host does not name the region',
      'artifactRegistry.servers must not list a host twice',
    ]));
  });
});
