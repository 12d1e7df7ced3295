// The sample files of config/samples as the operator would see them: their source Secrets (data
// base64, as the API server returns it) and their RegistryCredential's resolved spec.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { resolveSpec, type ResolvedSpec } from '../../src/api/schema.ts';
import type { SourceSecret } from '../../src/controller/sources.ts';

export interface Sample {
  secrets: Record<string, SourceSecret>;
  name: string;
  spec: ResolvedSpec;
}

export function loadSample(file: string): Sample {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
  const b64 = (v: string) => Buffer.from(v).toString('base64');
  const secrets: Record<string, SourceSecret> = Object.fromEntries(docs.filter((d) => d.kind === 'Secret').map((d) => [
    d.metadata.name,
    { metadata: d.metadata, type: d.type, data: Object.fromEntries(Object.entries<string>(d.stringData ?? {}).map(([k, v]) => [k, b64(v)])) },
  ]));
  const rc = docs.find((d) => d.kind === 'RegistryCredential');
  const spec = resolveSpec(rc.metadata.name, rc.spec);
  if (!spec.ok) throw new Error(spec.message);
  return { secrets, name: rc.metadata.name, spec: spec.spec };
}
