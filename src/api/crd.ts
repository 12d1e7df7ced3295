// Generates the CustomResourceDefinition from the zod schema. Zod's JSON Schema output is close to
// what the API server wants; toStructural() removes the parts a structural schema forbids.
import { z } from 'zod';
import {
  GROUP,
  KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
  registryCredentialSpecSchema,
  registryCredentialStatusSchema,
} from './schema.ts';

type JsonSchema = { [key: string]: unknown };

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/** Rewrites a zod JSON Schema into an OpenAPI v3 structural schema the API server accepts. */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === '$schema' || key === 'propertyNames' || key === 'id') continue;
    // Structural schemas forbid additionalProperties beside properties; unknown fields are pruned anyway.
    if (key === 'additionalProperties' && (value === false || 'properties' in (node as JsonSchema))) continue;
    if ((key === 'minimum' || key === 'maximum') && SAFE_INTEGER_BOUNDS.has(value as number)) continue;
    out[key] = key === 'properties' ? mapValues(value as JsonSchema, toStructural) : toStructural(value);
  }
  return out;
}

function mapValues(obj: JsonSchema, fn: (v: unknown) => unknown): JsonSchema {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}

export function openApiSchema(schema: z.ZodType): unknown {
  return toStructural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' }));
}

const readyColumn = (field: string) => `.status.conditions[?(@.type=="Ready")].${field}`;

export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES },
      scope: 'Cluster',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: readyColumn('status') },
            { name: 'Reason', type: 'string', jsonPath: readyColumn('reason') },
            { name: 'Synced', type: 'integer', jsonPath: '.status.namespaces.synced' },
            { name: 'Matched', type: 'integer', jsonPath: '.status.namespaces.matched' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'RegistryCredential renders registry credentials into a kubernetes.io/dockerconfigjson Secret in every matching namespace and lists it in the chosen ServiceAccounts\' imagePullSecrets.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApiSchema(registryCredentialSpecSchema),
                status: openApiSchema(registryCredentialStatusSchema),
              },
            },
          },
        },
      ],
    },
  };
}
