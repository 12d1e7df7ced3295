// The MutatingWebhookConfiguration that sends pod CREATEs to the operator, kept true by the
// leader: created when missing, and put back at once when a field the operator owns changes (a
// caBundle overwritten by someone else first of all). Fields the operator does not set (other
// labels, annotations) are left as they are.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { COMPONENT_LABEL, IGNORE_LABEL, NAME_LABEL, NAME_VALUE } from '../../api/labels.ts';
import { RESOURCES, isAlreadyExists, isConflict, isNotFound, type KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { Informer } from '../../kube/informer.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { Runner, whenSynced } from './runner.ts';
import { DEFAULT_EXCLUDED_NAMESPACES } from '../../api/schema.ts';

export const WEBHOOK_COMPONENT = 'webhook';
export const POD_WEBHOOK_NAME = 'pods.regcred.dev';
/** A mirror pod (a static pod's copy) cannot be changed: the kubelet owns it. */
export const NOT_MIRROR_POD_EXPRESSION = "!has(object.metadata.annotations) || !('kubernetes.io/config.mirror' in object.metadata.annotations)";
const MAX_IMMEDIATE_CONFLICTS = 3;

export type WebhookClientConfig = { url: string } | { service: { namespace: string; name: string; port: number; path: string } };

export interface DesiredWebhookOptions {
  name: string;
  clientConfig: WebhookClientConfig;
  /** PEM. */
  caBundle: string;
  excludedNamespaces: string[];
}

export interface MutatingWebhook {
  name: string;
  clientConfig: ({ url: string } | { service: { namespace: string; name: string; port: number; path: string } }) & { caBundle: string };
  rules: { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope: string }[];
  failurePolicy: string;
  matchPolicy: string;
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  objectSelector: Record<string, never>;
  sideEffects: string;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  reinvocationPolicy: string;
  matchConditions: { name: string; expression: string }[];
}

export interface MutatingWebhookConfiguration extends KubeObject {
  apiVersion?: string;
  kind?: string;
  webhooks?: MutatingWebhook[];
}

/**
 * The configuration as the operator wants it. Every field the API server would default is set
 * (rules[].scope, objectSelector), so that a live object equal to it compares equal.
 */
/** Pod injection never touches the system namespaces, the operator's own or the credentials one. */
export function injectionExcludedNamespaces(operatorNamespace: string, credentialsNamespace: string): string[] {
  return [...new Set([...DEFAULT_EXCLUDED_NAMESPACES, operatorNamespace, credentialsNamespace])];
}

/** The namespaces pod injection never touches: system and own ones by name, and those opted out. */
export function injectionNamespaceSelector(excludedNamespaces: string[]) {
  return {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...excludedNamespaces] },
      { key: IGNORE_LABEL, operator: 'NotIn', values: ['true'] },
    ],
  };
}

export function desiredWebhookConfiguration(options: DesiredWebhookOptions): MutatingWebhookConfiguration & { apiVersion: string; kind: string; webhooks: MutatingWebhook[] } {
  const clientConfig = 'url' in options.clientConfig ? { url: options.clientConfig.url } : { service: { ...options.clientConfig.service } };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: options.name,
      labels: { [NAME_LABEL]: NAME_VALUE, [COMPONENT_LABEL]: WEBHOOK_COMPONENT },
    },
    webhooks: [
      {
        name: POD_WEBHOOK_NAME,
        clientConfig: { ...clientConfig, caBundle: Buffer.from(options.caBundle, 'utf8').toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        namespaceSelector: injectionNamespaceSelector(options.excludedNamespaces),
        objectSelector: {},
        sideEffects: 'None',
        timeoutSeconds: 3,
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: 'IfNeeded',
        matchConditions: [{ name: 'not-mirror-pod', expression: NOT_MIRROR_POD_EXPRESSION }],
      },
    ],
  };
}

/**
 * The fields of `live` that differ from `desired` among those the operator owns: its labels, and
 * every field it sets on each webhook (compared whole). Fields it does not set are not looked at.
 */
export function ownedDifferences(desired: ReturnType<typeof desiredWebhookConfiguration>, live: MutatingWebhookConfiguration): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) {
    if (live.metadata.labels?.[k] !== v) out.push(`metadata.labels[${k}]`);
  }
  const webhooks = Array.isArray(live.webhooks) ? live.webhooks : [];
  if (webhooks.length !== desired.webhooks.length) {
    out.push('webhooks');
    return out;
  }
  desired.webhooks.forEach((want, i) => {
    const have = (webhooks[i] ?? {}) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) if (!isDeepStrictEqual(v, have[k])) out.push(`webhooks[${i}].${k}`);
  });
  return out;
}

/** The MutatingWebhookConfiguration's name unless --webhook-configuration-name says otherwise. */
export const DEFAULT_WEBHOOK_CONFIGURATION = 'regcred-operator';

export interface WebhookConfigurationOptions {
  name: string;
  clientConfig: WebhookClientConfig;
  excludedNamespaces: string[];
  /** The PEM bundle to publish; while undefined nothing is written. */
  caBundle: () => string | undefined;
}

export class WebhookConfiguration {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly options: WebhookConfigurationOptions;
  private readonly informer: Informer<MutatingWebhookConfiguration>;
  private readonly runner: Runner;
  private leading = false;
  private stopped = false;
  private conflicts = 0;
  private waitingForBundle = false;

  constructor(client: KubeClient, log: Logger, options: WebhookConfigurationOptions) {
    this.client = client;
    this.log = log;
    this.options = { ...options, excludedNamespaces: [...options.excludedNamespaces] };
    this.informer = new Informer<MutatingWebhookConfiguration>(client, RESOURCES.mutatingWebhookConfigurations, log, {
      fieldSelector: `metadata.name=${options.name}`,
    }).on(() => {
      if (this.leading) this.runner.schedule(0);
    });
    this.runner = new Runner(
      () => this.reconcile(),
      (err, retryInMs) =>
        this.log.warn({ webhookConfiguration: this.options.name, error: describe(err), retryInMs }, 'webhook: could not reconcile the MutatingWebhookConfiguration; retrying'),
    );
  }

  /** Leader only: watches the configuration and keeps it true (until stop()). */
  lead(): void {
    if (this.stopped || this.leading) return;
    this.leading = true;
    this.informer.start();
    this.runner.schedule(0);
  }

  /** Applies the desired configuration again (call it when the CA bundle changes). */
  refresh(): void {
    if (this.leading) this.runner.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.leading = false;
    this.runner.stop();
    this.informer.stop();
  }

  private async reconcile(): Promise<number | undefined> {
    if (!this.leading) return undefined;
    if (!(await whenSynced([this.informer], () => this.leading))) return undefined;
    const caBundle = this.options.caBundle();
    if (!caBundle) {
      if (!this.waitingForBundle) this.log.info({ webhookConfiguration: this.options.name }, 'webhook: no CA bundle yet; the configuration waits for it');
      this.waitingForBundle = true;
      return undefined;
    }
    this.waitingForBundle = false;
    const { name } = this.options;
    const desired = desiredWebhookConfiguration({ ...this.options, caBundle });
    const live = this.informer.get(undefined, name);
    try {
      if (!live) {
        const created = await this.client.create<MutatingWebhookConfiguration>(RESOURCES.mutatingWebhookConfigurations, undefined, desired);
        this.informer.observe(created);
        this.log.info({ webhookConfiguration: name }, 'webhook: MutatingWebhookConfiguration created');
      } else {
        const differences = ownedDifferences(desired, live);
        if (!differences.length) {
          this.conflicts = 0;
          return undefined;
        }
        const body: MutatingWebhookConfiguration = {
          ...live,
          metadata: { ...live.metadata, labels: { ...live.metadata.labels, ...desired.metadata.labels } },
          webhooks: desired.webhooks,
        };
        const replaced = await this.client.replace<MutatingWebhookConfiguration>(RESOURCES.mutatingWebhookConfigurations, undefined, name, body);
        this.informer.observe(replaced);
        this.log.info({ webhookConfiguration: name, restored: differences }, 'webhook: MutatingWebhookConfiguration restored');
        const still = ownedDifferences(desired, replaced);
        // Not retried here: that would write again and again. The next event or refresh() will.
        if (still.length) this.log.warn({ webhookConfiguration: name, fields: still }, 'webhook: the API server keeps these fields different from what the operator writes');
      }
      this.conflicts = 0;
      return undefined;
    } catch (err) {
      if (!(isAlreadyExists(err) || isConflict(err) || (live && isNotFound(err)))) throw err;
      if (++this.conflicts > MAX_IMMEDIATE_CONFLICTS) {
        this.conflicts = 0;
        throw err;
      }
      this.log.info({ webhookConfiguration: name, status: describe(err).status }, 'webhook: the MutatingWebhookConfiguration changed meanwhile; reading it again');
      await this.reread();
      return 0;
    }
  }

  private async reread(): Promise<void> {
    try {
      this.informer.observe(await this.client.get<MutatingWebhookConfiguration>(RESOURCES.mutatingWebhookConfigurations, undefined, this.options.name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.informer.forget(undefined, this.options.name);
    }
  }
}
