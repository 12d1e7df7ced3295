import { stringify } from 'yaml';
import { buildCrd } from './crd.ts';

const HEADER = '# Generated from src/api/schema.ts by `make manifests`; do not edit.\n';

/** Plain copies of the CRD, applied by kubectl (make install, config/crd). */
export const CRD_PATHS = [
  'crds/regcred.dev_registrycredentials.yaml',
  'config/crd/bases/regcred.dev_registrycredentials.yaml',
];

/**
 * The chart's CRD is a template, not a file of the chart's crds/ directory: Helm installs crds/
 * once and never upgrades it, while a template is upgraded with the release.
 */
export const CHART_CRD_PATH = 'charts/regcred-operator/templates/crds/registrycredentials.yaml';

/** Where earlier versions wrote the CRD; `make manifests` deletes them and `--check` fails while they exist. */
export const OBSOLETE_CRD_PATHS = ['charts/regcred-operator/crds/regcred.dev_registrycredentials.yaml'];

/**
 * Goes into the CRD's metadata in the chart. crds.keep (the default) makes `helm uninstall` leave
 * the CRD, since deleting it deletes every RegistryCredential with it.
 */
const CHART_METADATA = [
  '  labels:',
  '    {{- include "regcred-operator.labels" . | nindent 4 }}',
  '  {{- if .Values.crds.keep }}',
  '  annotations:',
  '    helm.sh/resource-policy: keep',
  '  {{- end }}',
];

/** The CRD as YAML, as kubectl applies it. */
export function crdYaml(): string {
  return `${HEADER}${stringify(buildCrd(), { lineWidth: 0 })}`;
}

/**
 * The chart's template of the CRD: the YAML of crdYaml() line for line, inside `crds.enabled`,
 * with the chart's labels and the keep annotation added at the end of its metadata.
 */
export function chartCrdTemplate(yaml: string): string {
  // Helm would read these as template actions and render something other than the schema.
  if (yaml.includes('{{') || yaml.includes('}}')) throw new Error('the CRD contains "{{" or "}}", which Helm would evaluate; change the text in src/api');
  const lines = yaml.replace(/\n$/, '').split('\n');
  const metadata = lines.indexOf('metadata:');
  if (metadata < 0) throw new Error('the CRD has no top-level metadata');
  let end = metadata + 1;
  while (end < lines.length && lines[end]!.startsWith(' ')) end++;
  if (lines.slice(metadata + 1, end).some((l) => /^ {2}(labels|annotations):/.test(l))) {
    throw new Error('the CRD already has labels or annotations; merge them with the chart\'s in src/api/manifests.ts');
  }
  return [
    '{{- if .Values.crds.enabled }}',
    ...lines.slice(0, end),
    ...CHART_METADATA,
    ...lines.slice(end),
    '{{- end }}',
    '',
  ].join('\n');
}

/** Every generated file with its text. */
export function crdManifestFiles(): Array<[string, string]> {
  const yaml = crdYaml();
  return [...CRD_PATHS.map((p): [string, string] => [p, yaml]), [CHART_CRD_PATH, chartCrdTemplate(yaml)]];
}
