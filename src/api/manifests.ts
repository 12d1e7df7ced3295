import { stringify } from 'yaml';
import { buildCrd } from './crd.ts';

export const CRD_PATHS = [
  'crds/regcred.dev_registrycredentials.yaml',
  'config/crd/bases/regcred.dev_registrycredentials.yaml',
  'charts/regcred-operator/crds/regcred.dev_registrycredentials.yaml',
];

/** The generated CRD as YAML, for every path that carries it. */
export function crdManifestFiles(): Array<[string, string]> {
  const text = `# Generated from src/api/schema.ts by \`make manifests\`; do not edit.\n${stringify(buildCrd(), { lineWidth: 0 })}`;
  return CRD_PATHS.map((p) => [p, text]);
}
