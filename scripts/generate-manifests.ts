// Writes the generated CRD (make manifests). `--check` fails when the committed files differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { crdManifestFiles } from '../src/api/manifests.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const [path, text] of crdManifestFiles()) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // absent: written below, or reported as stale with --check
  }
  if (current === text) continue;
  if (check) {
    console.error(`${path} differs from the schema in src/api; run make manifests`);
    stale++;
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale ? 1 : 0);
