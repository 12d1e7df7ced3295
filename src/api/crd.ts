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

/** `kubectl get regcred` lists every kind of this category; only this CRD is in it. */
export const CATEGORIES = ['regcred'];

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

/** The spec and status schemas describe their fields; what spec and status are, as fields of the object, is said here. */
function described(schema: unknown, description: string): unknown {
  return { description, ...(schema as JsonSchema) };
}

const readyColumn = (field: string) => `.status.conditions[?(@.type=="Ready")].${field}`;

export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
      },
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
            // -o wide only: what a person checks next, without reading the whole status.
            {
              name: 'Secret',
              type: 'string',
              jsonPath: '.spec.secretName',
              priority: 1,
              description: 'spec.secretName; empty when unset, and then the Secret is named after the RegistryCredential (metadata.name).',
            },
            { name: 'Last Rotation', type: 'date', jsonPath: '.status.lastRotationTime', priority: 1, description: 'When the rendered credentials last changed.' },
            { name: 'Message', type: 'string', jsonPath: readyColumn('message'), priority: 1, description: "The Ready condition's message." },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'RegistryCredential renders registry credentials into a kubernetes.io/dockerconfigjson Secret in every matching namespace and lists it in the chosen ServiceAccounts\' imagePullSecrets.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'The versioned schema of this object: regcred.dev/v1alpha1.' },
                kind: { type: 'string', description: 'RegistryCredential.' },
                // The API server refuses anything but type here, a description too: kubectl explain shows ObjectMeta's own.
                metadata: { type: 'object' },
                spec: described(openApiSchema(registryCredentialSpecSchema), 'What to render, where to put it and which ServiceAccounts list it.'),
                status: described(
                  openApiSchema(registryCredentialStatusSchema),
                  'What the operator last did for this spec; written only by the operator.',
                ),
              },
            },
          },
        },
      ],
    },
  };
}
