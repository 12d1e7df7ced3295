// The chaos project's setup. Unlike the integration suite it starts no shared control plane: each
// chaos file starts its own (it restarts kube-apiserver and etcd, which must not disturb other
// files), one at a time. Setup clears the previous results; teardown checks that no password used
// in this run reached an operator log written during it.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chaosSeed } from '../support/chaos-random.ts';
import { CHAOS_RESULTS_DIR } from '../support/chaos-report.ts';
import { LOG_DIR } from '../support/operator.ts';

let startedAt = 0;

export function setup(): void {
  startedAt = Date.now();
  rmSync(CHAOS_RESULTS_DIR, { recursive: true, force: true });
  // One seed for the whole run, inherited by every test worker: CHAOS_SEED=<it> replays the run.
  process.env.CHAOS_SEED ||= String(chaosSeed());
  console.log(`chaos: seed ${process.env.CHAOS_SEED}`);
}

export function teardown(): void {
  const formsFile = join(LOG_DIR, 'leak-forms.txt');
  if (!existsSync(formsFile)) return;
  const forms = readFileSync(formsFile, 'utf8').split('\n').filter(Boolean);
  // Other runs may share LOG_DIR: only this run's logs are judged (against every recorded form).
  const logs = [
    ...readdirSync(LOG_DIR).filter((f) => f.endsWith('.log') && statSync(join(LOG_DIR, f)).mtimeMs >= startedAt).map((f) => join(LOG_DIR, f)),
    ...(existsSync(CHAOS_RESULTS_DIR) ? readdirSync(CHAOS_RESULTS_DIR).filter((f) => f.endsWith('.log')).map((f) => join(CHAOS_RESULTS_DIR, f)) : []),
  ];
  for (const file of logs) {
    const text = readFileSync(file, 'utf8');
    const leaked = forms.filter((f) => text.includes(f)).length;
    if (leaked) throw new Error(`${file} contains ${leaked} forms of test passwords`);
  }
  console.error(`chaos: checked ${logs.length} operator logs against ${forms.length} password forms: no secret in any log`);
}
