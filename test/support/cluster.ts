// Helpers for integration tests: a client for the run's control plane, unique names, and bounded
// polling for conditions the API server reaches asynchronously.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';

export function testClient(): KubeClient {
  return KubeClient.load(inject('kubeconfig'));
}

export function kubectl(...args: string[]): string {
  return execFileSync(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function createNamespace(client: KubeClient, name: string, labels: Record<string, string> = {}): Promise<void> {
  await client.create(RESOURCES.namespaces, undefined, { metadata: { name, labels } });
}
