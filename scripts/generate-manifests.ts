// Writes the generated CRD (make manifests) and deletes the copies of earlier layouts. `--check`
// fails when the committed files differ, or an earlier copy is still there.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OBSOLETE_CRD_PATHS, crdManifestFiles } from '../src/api/manifests.ts';

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
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
for (const path of OBSOLETE_CRD_PATHS.filter((p) => existsSync(p))) {
  if (check) {
    console.error(`${path} is no longer generated; run make manifests to delete it`);
    stale++;
  } else {
    rmSync(path);
    console.log(`deleted ${path}`);
  }
}
process.exit(stale ? 1 : 0);
