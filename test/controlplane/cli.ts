// make cluster-up / cluster-down: a long-lived local control plane for people (make dev, make run).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ControlPlane, runDirExists, stopRunDir } from './controlplane.ts';

const clusterDir = resolve(process.env.CLUSTER_DIR ?? '.cluster');
const runDirFile = resolve(clusterDir, 'run-dir');
const kubeconfig = resolve(clusterDir, 'kubeconfig');

async function up(): Promise<void> {
  if (existsSync(runDirFile) && runDirExists(readFileSync(runDirFile, 'utf8').trim())) {
    console.log(`control plane already running; export KUBECONFIG=${kubeconfig}`);
    return;
  }
  const cp = await ControlPlane.start({ kubeconfigPath: kubeconfig, detached: true });
  writeFileSync(runDirFile, cp.dir);
  writeFileSync(resolve(clusterDir, 'kubectl-path'), cp.kubectl);
  console.log(`control plane up at ${cp.server}; logs in ${cp.dir}`);
  console.log(`export KUBECONFIG=${kubeconfig}`);
  console.log(`kubectl: ${cp.kubectl}  (or: make kubectl ARGS='get ns')`);
}

function down(): void {
  if (!existsSync(runDirFile)) {
    console.log('no control plane recorded in', clusterDir);
    return;
  }
  stopRunDir(readFileSync(runDirFile, 'utf8').trim());
  rmSync(runDirFile);
  rmSync(kubeconfig, { force: true });
  console.log('control plane stopped');
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') down();
else {
  console.error('usage: cli.ts up|down');
  process.exit(2);
}
