// kubectl explain and editors show a CRD's descriptions: every field of the generated schema needs
// one, also the ones nested in arrays and maps, and the wide columns and category must be there.
import { describe, expect, it } from 'vitest';
import { buildCrd } from '../../src/api/crd.ts';

type Schema = { [key: string]: unknown };

interface CrdVersion {
  schema: { openAPIV3Schema: Schema };
  additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string; priority?: number; description?: string }>;
}

const crd = buildCrd() as { spec: { names: { categories?: string[]; shortNames: string[] }; versions: CrdVersion[] } };
const version = crd.spec.versions[0]!;

/** Paths of the properties, at any depth, that have no non-empty description. */
function undescribed(node: unknown, path = ''): string[] {
  if (!node || typeof node !== 'object') return [];
  const n = node as Schema;
  const missing: string[] = [];
  for (const [name, child] of Object.entries((n.properties as Schema | undefined) ?? {})) {
    const description = (child as Schema).description;
    if (typeof description !== 'string' || description.trim() === '') missing.push(`${path}.${name}`);
    missing.push(...undescribed(child, `${path}.${name}`));
  }
  if (n.items) missing.push(...undescribed(n.items, `${path}[]`));
  if (n.additionalProperties && typeof n.additionalProperties === 'object') missing.push(...undescribed(n.additionalProperties, `${path}{}`));
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(n[key])) for (const branch of n[key]) missing.push(...undescribed(branch, path));
  }
  return missing;
}

describe('undescribed', () => {
  it('finds fields without a description inside objects, arrays and maps', () => {
    const schema = {
      type: 'object',
      properties: {
        a: { type: 'string', description: 'A.' },
        b: { type: 'string', description: ' ' },
        list: {
          type: 'array',
          description: 'A list.',
          items: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer', description: 'Y.' } } },
        },
        map: {
          type: 'object',
          description: 'A map.',
          additionalProperties: { type: 'object', properties: { z: { type: 'string' } } },
        },
        nested: { type: 'object', properties: { deep: { type: 'boolean' } } },
      },
    };
    expect(undescribed(schema)).toEqual(['.b', '.list[].x', '.map{}.z', '.nested', '.nested.deep']);
  });
});

describe('generated CRD for kubectl explain and kubectl get', () => {
  it('describes every field of the object, spec and status at every depth', () => {
    // metadata is ObjectMeta, described by the API server; a CRD may not say more than its type.
    expect(undescribed(version.schema.openAPIV3Schema)).toEqual(['.metadata']);
    expect(Object.keys((version.schema.openAPIV3Schema.properties as Schema).metadata as Schema)).toEqual(['type']);
  });

  it('describes the nested fields people look up most', () => {
    const props = (s: unknown) => (s as Schema).properties as Record<string, Schema>;
    const root = props(version.schema.openAPIV3Schema);
    const selector = props(props(root.spec)['namespaces'])['selector']!;
    const requirement = props((props(selector)['matchExpressions']!.items as Schema))!;
    expect(Object.keys(requirement).sort()).toEqual(['key', 'operator', 'values']);
    expect(requirement['operator']!.description).toMatch(/In.*NotIn.*Exists.*DoesNotExist/s);
    const condition = props((props(root.status)['conditions']!.items as Schema))!;
    expect(Object.keys(condition).sort()).toEqual(
      ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type'].sort(),
    );
    expect(props(root.spec)['secretName']!.description).toContain('metadata.name');
  });

  it('is in the regcred category and no other', () => {
    expect(crd.spec.names.categories).toEqual(['regcred']);
  });

  it('keeps the default columns and adds Secret, Last Rotation and Message for -o wide only', () => {
    const columns = version.additionalPrinterColumns;
    expect(columns.filter((c) => !c.priority).map((c) => c.name)).toEqual(['Ready', 'Reason', 'Synced', 'Matched', 'Age']);
    const wide = columns.filter((c) => c.priority === 1);
    expect(wide.map(({ name, type, jsonPath }) => ({ name, type, jsonPath }))).toEqual([
      { name: 'Secret', type: 'string', jsonPath: '.spec.secretName' },
      { name: 'Last Rotation', type: 'date', jsonPath: '.status.lastRotationTime' },
      { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    ]);
    expect(wide.find((c) => c.name === 'Secret')!.description).toContain('metadata.name');
  });
});
