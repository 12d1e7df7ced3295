// The Grafana dashboard queries only metrics the operator exports, so a renamed metric shows up here
// rather than as an empty panel.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/server/metrics.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
}

const dashboard = JSON.parse(readFileSync('config/grafana/regcred-operator-dashboard.json', 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: unknown }> };
};

describe('Grafana dashboard', () => {
  it('queries only metrics that the operator exports', async () => {
    const metrics = await new Metrics().registry.getMetricsAsJSON();
    const exported = new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])));
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const variables = dashboard.templating.list.map((v) => JSON.stringify(v.query));
    const used = new Set([...exprs, ...variables].flatMap((e) => e.match(/\bregcred_[a-z_]+/g) ?? []));
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
    for (const name of [
      'regcred_reconcile_total', 'regcred_reconcile_duration_seconds_bucket', 'regcred_reconcile_errors_total', 'regcred_workqueue_depth',
      'regcred_workqueue_queue_duration_seconds_bucket', 'regcred_workqueue_retries_total', 'regcred_api_requests_total', 'regcred_writes_total',
      'regcred_managed_secrets', 'regcred_serviceaccount_entries', 'regcred_credential_ready', 'regcred_informer_last_event_age_seconds',
      'regcred_leader', 'regcred_process_open_fds', 'regcred_nodejs_eventloop_lag_seconds', 'regcred_nodejs_heap_size_used_bytes',
    ]) expect(used, name).toContain(name);
  });

  it('has unique panel ids and takes its data source from the variable', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of dashboard.panels.flatMap((p) => p.targets ?? [])) expect(t.datasource.uid).toBe('${datasource}');
  });
});
