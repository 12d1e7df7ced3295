// Requests counted by the API server itself (apiserver_request_total from its /metrics). The metric
// has no user or user-agent label, so a client's share is the difference over a window in which
// only that client and the control plane run, limited to the resources that client uses, minus a
// window of the control plane alone.
import type { KubeClient } from '../../src/kube/client.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'DELETECOLLECTION', 'APPLY']);
const READS = new Set(['GET', 'LIST']);
const WATCHES = new Set(['WATCH', 'WATCHLIST']);

/** Count per "VERB resource[/subresource]"; non-resource requests (discovery, /metrics) are left out. */
export type RequestCounts = Map<string, number>;

export async function scrapeRequests(admin: KubeClient): Promise<RequestCounts> {
  const text = await admin.getText('/metrics');
  const counts: RequestCounts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!labels.resource) continue;
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

export interface RequestSummary {
  mutating: number;
  reads: number;
  watches: number;
  byKey: Record<string, number>;
}

/**
 * Everything the operator reads or writes. The controller manager's own watches (the garbage
 * collector alone holds one per resource type) end and are counted every 5–10 minutes; those on
 * other resources cannot be the operator's and are left out rather than subtracted as noise.
 */
export const OPERATOR_RESOURCES = new Set(['namespaces', 'secrets', 'serviceaccounts', 'registrycredentials', 'registrycredentials/status', 'events']);

export function diff(before: RequestCounts, after: RequestCounts, resources?: Set<string>): RequestSummary {
  const summary: RequestSummary = { mutating: 0, reads: 0, watches: 0, byKey: {} };
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0);
    if (d <= 0) continue;
    const verb = key.slice(0, key.indexOf(' '));
    if (resources && !resources.has(key.slice(verb.length + 1))) continue;
    summary.byKey[key] = d;
    if (MUTATING.has(verb)) summary.mutating += d;
    else if (READS.has(verb)) summary.reads += d;
    else if (WATCHES.has(verb)) summary.watches += d;
  }
  return summary;
}

/** Watches open right now on a resource (apiserver_longrunning_requests), whoever holds them. */
export async function openWatches(admin: KubeClient, resource: string): Promise<number> {
  const text = await admin.getText('/metrics');
  let open = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('apiserver_longrunning_requests{') && line.includes(`resource="${resource}"`) && line.includes('verb="WATCH"')) {
      open += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return open;
}
