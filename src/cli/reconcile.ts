// `kubectl regcred reconcile NAME [--wait]`: asks the operator for a reconcile by annotation and,
// with --wait, waits until the status says that request was handled.
import { RECONCILE_REQUESTED_ANNOTATION } from '../api/labels.ts';
import type { RegistryCredential } from '../api/schema.ts';
import { RESOURCES, type KubeClient } from '../kube/client.ts';
import { kubeTime } from '../kube/time.ts';

const POLL_MS = 500;

export type Handled = RegistryCredential & { status?: { lastHandledReconcileAt?: string } };

export async function requestReconcile(client: KubeClient, name: string, now: Date): Promise<string> {
  const requestedAt = kubeTime(now);
  await client.patch(RESOURCES.registryCredentials, undefined, name, { metadata: { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: requestedAt } } }, 'merge');
  return requestedAt;
}

/** Resolves once status.lastHandledReconcileAt equals `requestedAt`; rejects after `timeoutMs`. */
export async function waitHandled(client: KubeClient, name: string, requestedAt: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    const rc = await client.get<Handled>(RESOURCES.registryCredentials, undefined, name);
    last = rc.status?.lastHandledReconcileAt;
    if (last === requestedAt) return;
    // The operator handles no request for a suspended credential until it is resumed.
    if ((rc.spec as { suspend?: unknown }).suspend === true) {
      throw new Error(`RegistryCredential ${name} is suspended (spec.suspend: true): the reconcile requested at ${requestedAt} is handled once it is resumed`);
    }
    if (Date.now() + POLL_MS > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for RegistryCredential ${name} to handle the reconcile requested at ${requestedAt} (status.lastHandledReconcileAt is ${last ?? 'not set'})`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
