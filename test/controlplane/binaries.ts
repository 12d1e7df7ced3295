import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the control plane binaries when the cache lacks them; returns the folder holding them. */
export function buildControlPlane(log: (line: string) => void): string {
  const out = execFileSync('bash', [join(here, 'build.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!dir) throw new Error('test/controlplane/build.sh printed no binary folder');
  log(`control plane: binaries in ${dir}`);
  return dir;
}
