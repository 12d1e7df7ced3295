// The generated CRD on the real API server: accepted, stores valid objects, rejects invalid ones with
// the messages people see, and serves the status subresource and printer columns.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import { INVALID_SPECS } from '../support/invalid-specs.ts';
import { eventually, kubectl, testClient, uniqueName } from '../support/cluster.ts';

const client = testClient();
const rc = RESOURCES.registryCredentials;
const validSpec = {
  registries: [{ server: 'private-registry.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'p', key: 'password' } } }],
};

describe('RegistryCredential CRD on the API server', () => {
  it('is established with the generated schema', async () => {
    const crd = await client.request<{ status: { conditions: Array<{ type: string; status: string }> }; spec: unknown }>(
      'GET',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/registrycredentials.regcred.dev',
    );
    const conditions = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
    expect(conditions).toMatchObject({ Established: 'True', NamesAccepted: 'True' });
    expect(conditions.NonStructuralSchema).toBeUndefined();
    const generated = parseAllDocuments(readFileSync('crds/regcred.dev_registrycredentials.yaml', 'utf8'))[0]!.toJS();
    expect(crd.spec).toMatchObject(generated.spec);
  });

  it('stores both samples and reads them back with their specs', async () => {
    for (const file of ['config/samples/private-registry.yaml', 'config/samples/dockerhub-and-ghcr.yaml']) {
      const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
      const sample = docs.find((d) => d.kind === 'RegistryCredential');
      const name = uniqueName(sample.metadata.name);
      await client.create(rc, undefined, { ...sample, metadata: { name } });
      const stored = await client.get<{ spec: unknown }>(rc, undefined, name);
      expect(stored.spec).toEqual(sample.spec);
      await client.delete(rc, undefined, name);
    }
  });

  it.each(INVALID_SPECS)('rejects $name', async ({ spec, api }) => {
    const err = await client.create(rc, undefined, { metadata: { name: uniqueName('invalid') }, spec }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(422);
    expect((err as KubeError).message).toContain(api);
  });

  it('serves the status subresource: spec writes ignore status, status writes ignore spec', async () => {
    const name = uniqueName('status');
    const created = await client.create<{ metadata: { generation: number } }>(rc, undefined, {
      metadata: { name },
      spec: validSpec,
      status: { credentialHash: 'sha256:ignored' },
    });
    const afterCreate = await client.get<{ status?: unknown }>(rc, undefined, name);
    // The schema's default: an unobserved generation until the operator writes a status.
    expect(afterCreate.status).toEqual({ observedGeneration: -1 });

    const status = {
      observedGeneration: created.metadata.generation,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'all namespaces synced', observedGeneration: 1, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      namespaces: { matched: 3, synced: 2, failed: 1 },
      serviceAccounts: { patched: 2 },
    };
    await client.patch(rc, undefined, name, { spec: { secretName: 'ignored' }, status }, 'merge', 'status');
    const read = await client.get<{ spec: { secretName?: string }; status: typeof status; metadata: { generation: number } }>(rc, undefined, name);
    expect(read.status.namespaces).toEqual({ matched: 3, synced: 2, failed: 1 });
    expect(read.spec.secretName).toBeUndefined();
    expect(read.metadata.generation).toBe(created.metadata.generation);

    const table = kubectl('get', 'regcred', name);
    const [header, row] = table.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'READY', 'REASON', 'SYNCED', 'MATCHED', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 5)).toEqual([name, 'True', 'Synced', '2', '3']);
    await client.delete(rc, undefined, name);
  });

  it('is discovered in the regcred category', async () => {
    const discovery = await client.request<{ resources: Array<{ name: string; categories?: string[] }> }>('GET', '/apis/regcred.dev/v1alpha1');
    expect(discovery.resources.find((r) => r.name === 'registrycredentials')?.categories).toEqual(['regcred']);
  });

  it('shows the Secret, last rotation and Ready message with -o wide', async () => {
    const name = uniqueName('wide');
    await client.create(rc, undefined, { metadata: { name }, spec: { ...validSpec, secretName: 'regcred' } });
    const rotated = new Date(Date.now() - 3 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const status = {
      conditions: [{ type: 'Ready', status: 'False', reason: 'PartiallySynced', message: 'wide-column-message', lastTransitionTime: rotated }],
      namespaces: { matched: 1, synced: 0, failed: 1 },
      lastRotationTime: rotated,
    };
    await client.patch(rc, undefined, name, { status }, 'merge', 'status');

    const [header, row] = kubectl('get', 'regcred', name, '-o', 'wide').trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'REASON', 'SYNCED', 'MATCHED', 'AGE', 'SECRET', 'LAST ROTATION', 'MESSAGE']);
    const cells = row!.split(/\s{2,}/);
    expect(cells[0]).toBe(name);
    expect(cells.slice(-3)).toEqual(['regcred', '3h', 'wide-column-message']);

    await client.delete(rc, undefined, name);
  });

  it('explains nested fields with their descriptions (kubectl explain)', async () => {
    // The API server publishes a CRD's OpenAPI a moment after it is established.
    const operator = await eventually('kubectl explain to find the field', async () => {
      try {
        return kubectl('explain', 'registrycredential.spec.namespaces.selector.matchExpressions.operator');
      } catch {
        return undefined;
      }
    });
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    expect(flat(operator)).toContain('DESCRIPTION: In: the label is set to one of values. NotIn:');

    const recursive = kubectl('explain', 'registrycredentials.status', '--recursive');
    for (const field of ['conditions', 'lastTransitionTime', 'observedGeneration', 'failures', 'lastRotationTime', 'patched', 'checkedAt']) {
      expect(recursive).toContain(field);
    }
    const secretName = kubectl('explain', 'registrycredentials.spec.secretName');
    expect(flat(secretName)).toContain('defaults to metadata.name');
  });
});
