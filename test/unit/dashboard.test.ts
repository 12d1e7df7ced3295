// The Grafana dashboard and the alert rules query only metrics that the operator registers, so a
// renamed metric shows up here rather than as an empty panel or an alert that can never fire. The
// chart ships the same dashboard and rule groups as config/ (its templates read files/).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/server/metrics.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
}

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface Group {
  name: string;
  rules: Rule[];
}

const DASHBOARD = 'config/grafana/regcred-operator-dashboard.json';
const CHART_DASHBOARD = 'charts/regcred-operator/files/dashboard.json';
const RULE = 'config/prometheus/prometheus_rule.yaml';
const CHART_ALERTS = 'charts/regcred-operator/files/alerts.yaml';

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: unknown }> };
};
const prometheusRule = parse(readFileSync(RULE, 'utf8')) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { groups: Group[] } };
const rules = prometheusRule.spec.groups.flatMap((g) => g.rules);

/** Every series name the operator exposes: a histogram as its _bucket, _sum and _count. */
async function registered(): Promise<Set<string>> {
  const metrics = await new Metrics().registry.getMetricsAsJSON();
  return new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])));
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
 * names of by/without/on/ignoring clauses, label matchers, strings or range durations.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !KEYWORDS.has(n.toLowerCase()));
}

describe('PromQL metric names', () => {
  it('finds the metrics and nothing else', () => {
    expect(metricNames('histogram_quantile(0.9, sum by (le, verb) (rate(rest_client_request_duration_seconds_bucket{job=~"$job", code!~"2.."}[$__rate_interval])))')).toEqual([
      'rest_client_request_duration_seconds_bucket',
    ]);
    expect(metricNames('time() - max by (credential) (regcred_credential_last_sync_timestamp_seconds{job=~"$job"})')).toEqual(['regcred_credential_last_sync_timestamp_seconds']);
    expect(metricNames('sum(a_total) / on (instance) group_left sum(b) > 0.5 or vector(0)')).toEqual(['a_total', 'b']);
    expect(metricNames('absent(regcred_build_info)')).toEqual(['regcred_build_info']);
  });
});

describe('Grafana dashboard', () => {
  const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  const variableQueries = dashboard.templating.list.flatMap((v) => [...JSON.stringify(v.query).matchAll(/label_values\(([a-zA-Z_:][\w:]*)/g)].map((m) => m[1]!));
  const used = new Set([...exprs.flatMap(metricNames), ...variableQueries]);

  it('queries only metrics that the operator registers', async () => {
    const exported = await registered();
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
  });

  it('shows the controller-runtime, workqueue and REST client metrics, sync age, and the process without a prefix', () => {
    for (const name of [
      'controller_runtime_reconcile_total', 'controller_runtime_reconcile_errors_total', 'controller_runtime_reconcile_time_seconds_bucket',
      'controller_runtime_active_workers', 'controller_runtime_max_concurrent_reconciles',
      'workqueue_depth', 'workqueue_adds_total', 'workqueue_queue_duration_seconds_bucket', 'workqueue_work_duration_seconds_bucket',
      'workqueue_retries_total', 'workqueue_unfinished_work_seconds', 'workqueue_longest_running_processor_seconds',
      'rest_client_requests_total', 'rest_client_request_duration_seconds_bucket',
      'regcred_credential_last_sync_timestamp_seconds', 'regcred_credential_ready', 'regcred_credential_condition',
      'regcred_api_requests_total', 'regcred_informer_last_event_age_seconds', 'regcred_informer_restarts_total', 'regcred_leader', 'regcred_build_info',
      'process_open_fds', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
    ]) expect(used, name).toContain(name);
    expect(exprs.find((e) => e.includes('controller_runtime_reconcile_total'))).toMatch(/sum by \(result\)/);
    expect(exprs.find((e) => e.includes('rest_client_requests_total'))).toMatch(/sum by \(code/);
  });

  it('has unique panel ids, takes its data source from the variable, and lays panels out without overlap', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of dashboard.panels.flatMap((p) => p.targets ?? [])) expect(t.datasource.uid).toBe('${datasource}');
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('is in the chart byte for byte', () => {
    expect(readFileSync(CHART_DASHBOARD, 'utf8')).toBe(readFileSync(DASHBOARD, 'utf8'));
  });
});

describe('alert rules', () => {
  it('is a PrometheusRule that config/prometheus deploys', () => {
    expect([prometheusRule.apiVersion, prometheusRule.kind, prometheusRule.metadata.name]).toEqual(['monitoring.coreos.com/v1', 'PrometheusRule', 'regcred-operator']);
    expect((parse(readFileSync('config/prometheus/kustomization.yaml', 'utf8')) as { resources: string[] }).resources).toContain('prometheus_rule.yaml');
  });

  it('has the same groups in the chart', () => {
    const chart = parse(readFileSync(CHART_ALERTS, 'utf8')) as { groups: Group[] };
    expect(Object.keys(chart)).toEqual(['groups']);
    expect(chart.groups).toEqual(prometheusRule.spec.groups);
  });

  it('gives every rule a unique name, an expression, a duration, a severity and a summary', () => {
    expect(rules.map((r) => r.alert)).toEqual(['RegcredCredentialNotReady', 'RegcredCredentialStalled', 'RegcredSyncFailures', 'RegcredWatchStale', 'RegcredOperatorDown']);
    for (const r of rules) {
      expect(Object.keys(r).sort(), r.alert).toEqual(['alert', 'annotations', 'expr', 'for', 'labels']);
      expect(r.alert).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
      // Balanced brackets: a cheap stand-in for promtool's parse.
      for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
        expect(r.expr.split(open).length, `${r.alert} ${open}${close}`).toBe(r.expr.split(close).length);
      }
    }
  });

  it('reads only metrics that the operator registers', async () => {
    const exported = await registered();
    const used = rules.flatMap((r) => metricNames(r.expr).map((name) => [r.alert, name]));
    expect(used.map(([, name]) => name).sort()).toEqual([
      'controller_runtime_reconcile_errors_total', 'regcred_build_info', 'regcred_credential_condition', 'regcred_credential_ready', 'regcred_informer_last_event_age_seconds',
    ]);
    expect(used.filter(([, name]) => !exported.has(name!))).toEqual([]);
  });

  it('alerts on what each rule is named for', () => {
    const rule = (name: string) => rules.find((r) => r.alert === name)!;
    expect(rule('RegcredCredentialNotReady')).toMatchObject({ expr: expect.stringMatching(/regcred_credential_ready\) == 0$/), for: '15m' });
    expect(rule('RegcredCredentialStalled').expr).toMatch(/regcred_credential_condition\{type="Stalled", status="True"\}/);
    expect(rule('RegcredSyncFailures').expr).toMatch(/rate\(controller_runtime_reconcile_errors_total\{controller="registrycredential"\}\[\w+\]\)/);
    expect(rule('RegcredWatchStale').expr).toMatch(/regcred_informer_last_event_age_seconds\) > \d+$/);
    expect(rule('RegcredOperatorDown')).toMatchObject({ expr: 'absent(regcred_build_info)', labels: { severity: 'critical' } });
  });
});
