// kubectl-regcred against the real control plane and a running operator: the plugin runs as a
// child process, as kubectl runs it, and its output is checked against what the operator did.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RECONCILE_REQUESTED_ANNOTATION } from '../../src/api/labels.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import { eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

const PLUGIN = resolve('src/cli/kubectl-regcred.ts');
const COMPLETER = resolve('src/cli/kubectl_complete-regcred.ts');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((done) => {
    execFile(file, args, { env, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const plugin = (...args: string[]) => exec(process.execPath, [PLUGIN, '--kubeconfig', inject('kubeconfig'), ...args]);

const s = new Scenario('kplug');
const registries = [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];
const ns = { sel: '', optOut: '', sandbox: '', silver: '', conflict: '' };
let synced: string;
let broken: string;
let binDir: string;

beforeAll(async () => {
  await s.setup();
  await s.sourceSecret('pw', { password: s.password() });
  ns.sel = await s.namespace('sel', { tier: 'gold' });
  ns.optOut = await s.namespace('optout', { tier: 'gold', 'regcred.dev/ignore': 'true' });
  ns.sandbox = await s.namespace('sandbox-1', { tier: 'gold' });
  ns.silver = await s.namespace('silver', { tier: 'silver' });
  ns.conflict = await s.namespace('conflict', { tier: 'gold' });
  // Someone else's Secret of the same name, there before the credential.
  await s.client.create(RESOURCES.secrets, ns.conflict, { metadata: { name: 'pull' }, type: 'Opaque', data: { note: Buffer.from('not ours').toString('base64') } });
  synced = (await s.credential(`${s.id}-a`, {
    secretName: 'pull',
    registries,
    namespaces: { selector: { matchLabels: { tier: 'gold' } }, include: [`${s.id}-*`], exclude: [`${s.id}-sandbox-*`] },
    validation: { enabled: false },
  })).metadata.name;
  broken = (await s.credential(`${s.id}-b`, {
    secretName: 'pull-b',
    registries: [{ server: 'registry.acme.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'absent', key: 'password' } } }],
    namespaces: { include: [`${s.id}-none`] },
    validation: { enabled: false },
  })).metadata.name;
  // The status is written at most once per --status-interval: the count of patched ServiceAccounts
  // can land a write after the namespace counts.
  await eventually('the conflict reported, the selected namespace synced and its ServiceAccount counted', async () => {
    const rc = await s.getCredential(synced);
    const st = rc.status ?? {};
    return st.observedGeneration === rc.metadata.generation && st.namespaces?.matched === 2 && st.namespaces.synced === 1 && st.failures?.length === 1 && st.serviceAccounts?.patched === 1;
  }, 60_000);
  await s.saEventually(ns.sel, 'default', (e) => e.includes('pull'));
  await s.conditionEventually(broken, 'SourceNotFound');

  // kubectl finds plugins and their completion executables on PATH.
  binDir = mkdtempSync(join(tmpdir(), 'kubectl-regcred-'));
  for (const [name, script] of [['kubectl-regcred', PLUGIN], ['kubectl_complete-regcred', COMPLETER]] as const) {
    writeFileSync(join(binDir, name), `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(join(binDir, name), 0o755);
  }
});

afterAll(async () => {
  if (binDir) rmSync(binDir, { recursive: true, force: true });
  await s.teardown();
});

const cells = (line: string | undefined) => (line ?? '').split(/ {3,}/);

describe('status', () => {
  it('prints a row per credential: ready, synced/matched, conflicts, validation', async () => {
    const r = await plugin('status');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(cells(lines[0])).toEqual(['NAME', 'READY', 'SYNCED/MATCHED', 'CONFLICTS', 'LAST ROTATION', 'VALIDATION']);
    const row = (name: string) => cells(lines.find((l) => l.startsWith(`${name} `)));
    const a = row(synced);
    expect(a.slice(0, 4)).toEqual([synced, 'False/PartiallySynced', '1/2', '1']);
    // Rendered once, never rotated yet; validation is off.
    expect(a.slice(4)).toEqual(['<none>', 'Unknown/ValidationDisabled']);
    // A credential that cannot render is never validated: no CredentialsValid condition.
    expect(row(broken)).toEqual([broken, 'False/SourceNotFound', '0/0', '0', '<none>', '-']);
  });

  it('-o json for one credential', async () => {
    const r = await plugin('status', synced, '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const { items } = JSON.parse(r.stdout) as { items: Array<Record<string, unknown>> };
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ name: synced, secretName: 'pull', matched: 2, synced: 1, failed: 1, conflicts: 1, serviceAccountsPatched: 1, suspended: false, ready: { status: 'False', reason: 'PartiallySynced' } });
  });

  it('fails with one line and a non-zero code for a credential that does not exist', async () => {
    const r = await plugin('status', `${s.id}-nope`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`error: registrycredentials.regcred.dev "${s.id}-nope" not found\n`);
  });

  it('runs as a kubectl plugin, with KUBECONFIG', async () => {
    const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`, KUBECONFIG: inject('kubeconfig') };
    const r = await exec(inject('kubectl'), ['regcred', 'status', broken], env);
    expect(r.code, r.stderr).toBe(0);
    expect(cells(r.stdout.split('\n')[1])).toEqual([broken, 'False/SourceNotFound', '0/0', '0', '<none>', '-']);
  });
});

describe('status after a rotation', () => {
  it('LAST ROTATION is the age of status.lastRotationTime', async () => {
    await s.updateSourceSecret('pw', { password: s.password() });
    await eventually('the rotation recorded', async () => (await s.getCredential(synced)).status?.lastRotationTime !== undefined, 60_000);
    const r = await plugin('status', synced);
    expect(r.code, r.stderr).toBe(0);
    expect(cells(r.stdout.split('\n')[1])[4]).toMatch(/^\d+s$/);
  });
});

describe('why', () => {
  const why = async (namespace: string) => {
    const r = await plugin('why', namespace, '--credential', synced, '--credentials-namespace', s.credentialsNamespace);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it('a selected namespace: the Secret is ours and the default ServiceAccount lists it', async () => {
    const out = await why(ns.sel);
    expect(out.split('\n')[0]).toBe(`RegistryCredential ${synced} (Secret pull): has the Secret and every selected ServiceAccount lists it`);
    expect(out).toContain(`namespace ${ns.sel}: selected: it passes every namespace rule`);
    expect(out).toContain('Secret pull: present, held by this RegistryCredential (our labels and its UID as owner)');
    expect(out).toContain('ServiceAccount default: selected (named in spec.serviceAccounts.names), lists pull (added by the operator)');
  });

  it('an opted-out namespace', async () => {
    const out = await why(ns.optOut);
    expect(out).toContain(`namespace ${ns.optOut}: not selected: the namespace opts out with the label regcred.dev/ignore=true`);
    expect(out).toContain('Secret pull: absent');
  });

  it('a namespace an exclude glob matches', async () => {
    expect(await why(ns.sandbox)).toContain(`namespace ${ns.sandbox}: not selected: excluded by the glob "${s.id}-sandbox-*" of spec.namespaces.exclude`);
  });

  it('a namespace whose labels do not match the selector, with the label involved', async () => {
    expect(await why(ns.silver)).toContain(`namespace ${ns.silver}: not selected: the labels do not match spec.namespaces.selector: tier=gold required, the namespace has tier=silver`);
  });

  it('a namespace with a Secret of the same name that is not ours', async () => {
    const out = await why(ns.conflict);
    expect(out.split('\n')[0]).toBe(`RegistryCredential ${synced} (Secret pull): lacks the Secret: a Secret named pull that is not this credential's is in the way (SecretConflict) until it is removed`);
    expect(out).toContain('Secret pull: present, not managed by regcred-operator: a conflict, left untouched');
    expect(out).toContain(`status.failures: SecretConflict: Secret ${ns.conflict}/pull already exists and is not managed by regcred-operator`);
  });

  it('every credential, as JSON', async () => {
    const r = await plugin('why', ns.sel, '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const { items } = JSON.parse(r.stdout) as { items: Array<{ credential: string; selected: boolean; rule: { rule: string } }> };
    const mine = items.filter((i) => i.credential === synced || i.credential === broken);
    expect(mine).toEqual([
      expect.objectContaining({ credential: synced, selected: true, rule: { rule: 'selected' } }),
      expect.objectContaining({ credential: broken, selected: false, rule: { rule: 'notIncluded', include: [`${s.id}-none`] } }),
    ]);
  });

  it('a namespace that does not exist, and a credential that does not', async () => {
    const missing = await plugin('why', `${s.id}-missing`, '--credential', synced);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toContain('lacks the Secret: the namespace does not exist');
    const nope = await plugin('why', ns.sel, '--credential', `${s.id}-nope`);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toBe(`error: RegistryCredential "${s.id}-nope" not found\n`);
  });
});

describe('reconcile', () => {
  it('sets the annotation and, with --wait, returns once the operator has handled it', async () => {
    const r = await plugin('reconcile', synced, '--wait', '--timeout', '45s');
    expect(r.code, r.stderr).toBe(0);
    const requestedAt = /reconcile requested at (\S+)/.exec(r.stdout)?.[1];
    expect(requestedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.stdout).toContain(`registrycredential.regcred.dev/${synced} reconciled`);
    const rc = await s.client.get<RegistryCredential & { status?: { lastHandledReconcileAt?: string } }>(RESOURCES.registryCredentials, undefined, synced);
    expect(rc.metadata.annotations?.[RECONCILE_REQUESTED_ANNOTATION]).toBe(requestedAt);
    expect(rc.status?.lastHandledReconcileAt).toBe(requestedAt);
  });

  it('fails for a credential that does not exist', async () => {
    const r = await plugin('reconcile', `${s.id}-nope`);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('not found');
  });
});

describe('completion', () => {
  it('completes credential names from the cluster', async () => {
    const r = await exec(process.execPath, [PLUGIN, '__complete', '--kubeconfig', inject('kubeconfig'), 'reconcile', `${s.id}-`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${synced}\n${broken}\n:4\n`);
  });

  it('kubectl completes "kubectl regcred" through kubectl_complete-regcred', async () => {
    const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`, KUBECONFIG: inject('kubeconfig') };
    const commands = await exec(inject('kubectl'), ['__complete', 'regcred', 're'], env);
    expect(commands.stdout.split('\n').slice(0, 2)).toEqual(['reconcile', ':4']);
    const names = await exec(inject('kubectl'), ['__complete', 'regcred', 'status', `${s.id}-`], env);
    expect(names.stdout.split('\n').slice(0, 3)).toEqual([synced, broken, ':4']);
  });

  it('the bash script completes through kubectl-regcred __complete', async () => {
    const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`, KUBECONFIG: inject('kubeconfig') };
    const script = `source <(kubectl-regcred completion bash)
COMP_WORDS=(kubectl-regcred status "${s.id}-"); COMP_CWORD=2; _kubectl_regcred; printf '%s\\n' "\${COMPREPLY[@]}"
COMP_WORDS=(kubectl-regcred why x -o ""); COMP_CWORD=4; _kubectl_regcred; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await exec('bash', ['-c', script], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${synced}\n${broken}\njson\nyaml\n`);
  });
});

it('an unreachable kubeconfig gives one line and exit code 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-regcred-'));
  try {
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}, {name: other, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`);
    const r = await exec(process.execPath, [PLUGIN, '--kubeconfig', kubeconfig, '--context', 'other', 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: cannot reach the API server of context other: .*ECONNREFUSED.*\n$/);
    const bad = await exec(process.execPath, [PLUGIN, '--kubeconfig', kubeconfig, '--context', 'nope', 'status']);
    expect(bad.stderr).toBe('error: context "nope" not found in the kubeconfig\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
