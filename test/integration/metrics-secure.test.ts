// --metrics-secure on the real control plane: /metrics over HTTPS, and the API server decides who
// reads it. No token or a forged one: 401. A ServiceAccount's real token without the reader role:
// 403. The same token once its ServiceAccount is bound to a copy of the shipped
// regcred-operator-metrics-reader: 200, with the metrics. Only objects this file made are looked at
// or deleted: the control plane is shared with the other test files.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { RESOURCES, type Resource } from '../../src/kube/client.ts';
import { eventually, kubectl } from '../support/cluster.ts';
import { writeServiceAccountKubeconfig } from '../support/identity.ts';
import { LOG_DIR } from '../support/operator.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('msec');
const SCRAPER = 'scraper';
const readerRole = `${s.id}-metrics-reader`;
const readerBinding = `${s.id}-metrics-reader`;
const clusterRoles: Resource = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false };
const clusterRoleBindings: Resource = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false };
let token = '';

interface Scrape {
  status: number;
  body: string;
  peer: PeerCertificate;
}

/** GET /metrics over HTTPS; the certificate is self-signed, made at the operator's start. */
function scrape(bearer?: string): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: s.operator!.metricsPort,
      path: '/metrics',
      rejectUnauthorized: false,
      agent: false,
      headers: bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` },
    }, (res) => {
      const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, peer }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The operator's own count of its requests for one resource, from its metrics. */
const reviews = (metrics: string, resource: string) =>
  [...metrics.matchAll(new RegExp(`^regcred_api_requests_total\\{[^}]*resource="${resource}"[^}]*\\} (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);

beforeAll(async () => {
  await s.setup(['--metrics-secure']);
  await s.client.create(RESOURCES.serviceAccounts, s.credentialsNamespace, { metadata: { name: SCRAPER } });
  const kubeconfig = await writeServiceAccountKubeconfig(s.client, inject('kubeconfig'), s.credentialsNamespace, SCRAPER, join(LOG_DIR, `${s.id}-scraper.kubeconfig`));
  token = (JSON.parse(readFileSync(kubeconfig, 'utf8')) as { users: Array<{ user: { token: string } }> }).users[0]!.user.token;
});

afterAll(async () => {
  await s.client.delete(clusterRoleBindings, undefined, readerBinding).catch(() => undefined);
  await s.client.delete(clusterRoles, undefined, readerRole).catch(() => undefined);
  const logs = s.operator?.logs() ?? '';
  await s.teardown();
  expect(logs.includes(token), 'the operator logged the scraper token').toBe(false);
  await s.client.delete(RESOURCES.namespaces, undefined, s.credentialsNamespace).catch(() => undefined);
});

describe('--metrics-secure', () => {
  it('serves HTTPS only, with a self-signed certificate for the local names', async () => {
    const { peer } = await scrape();
    expect(peer.subject?.CN).toBe('regcred-operator-metrics');
    expect(peer.subjectaltname).toContain('IP Address:127.0.0.1');
    await expect(fetch(`http://127.0.0.1:${s.operator!.metricsPort}/metrics`)).rejects.toThrow();
  });

  it('answers 401 without a token, and for a token the API server does not know', async () => {
    expect(await scrape()).toMatchObject({ status: 401, body: 'Unauthorized\n' });
    expect(await scrape('not-a-token')).toMatchObject({ status: 401, body: 'Unauthorized\n' });
  });

  it('answers 403 to a ServiceAccount not bound to the metrics reader role', async () => {
    const { status, body } = await scrape(token);
    expect(status).toBe(403);
    expect(body).toContain(`system:serviceaccount:${s.credentialsNamespace}:${SCRAPER}`);
    expect(body).not.toContain('regcred_');
  });

  it('answers 200 with the metrics once the ServiceAccount is bound to the shipped reader role, and asks again only after a minute', async () => {
    const shipped = parseAllDocuments(kubectl('kustomize', 'config/rbac'))
      .map((d) => d.toJS() as { kind: string; metadata: { name: string }; rules?: unknown[] })
      .find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'regcred-operator-metrics-reader');
    expect(shipped?.rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    await s.client.create(clusterRoles, undefined, { metadata: { name: readerRole }, rules: shipped!.rules });
    await s.client.create(clusterRoleBindings, undefined, {
      metadata: { name: readerBinding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: readerRole },
      subjects: [{ kind: 'ServiceAccount', name: SCRAPER, namespace: s.credentialsNamespace }],
    });
    // The refusal is remembered for 10 s, and the API server's RBAC cache takes a moment too.
    const allowed = await eventually('the scraper to be let in', async () => {
      const r = await scrape(token);
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect(allowed.body).toContain('# TYPE regcred_api_requests_total counter');

    // Within the minute an allowed caller is remembered, scrapes cost the API server nothing.
    const before = [reviews(allowed.body, 'tokenreviews'), reviews(allowed.body, 'subjectaccessreviews')];
    expect(before.every((n) => n > 0)).toBe(true);
    let last = '';
    for (let i = 0; i < 3; i++) last = (await scrape(token)).body;
    expect([reviews(last, 'tokenreviews'), reviews(last, 'subjectaccessreviews')]).toEqual(before);
  });
});
