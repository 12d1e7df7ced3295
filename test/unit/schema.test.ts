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
