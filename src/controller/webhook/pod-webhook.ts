// The pod admission webhook as a whole: every replica serves it (with the certificate the leader
// keeps in a Secret, swapped in place when renewed), and the leader keeps the certificate and the
// MutatingWebhookConfiguration true. Outside a cluster the API server is told a loopback URL, so
// `make run` and `make dev` need no extra step.
import type { Logger } from 'pino';
import type { KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { serveWebhook, type WebhookOutcome } from '../../server/webhook.ts';
import type { Caches } from '../caches.ts';
import { WebhookCertificates } from './certificates.ts';
import { injectionExcludedNamespaces, WebhookConfiguration, type WebhookClientConfig } from './configuration.ts';
import { PodInjector } from './injector.ts';

export const WEBHOOK_PATH = '/mutate-pods';
/** A follower waits this long for the leader's certificate before trying again. */
const RETRY_MS = 5000;

export interface PodWebhookOptions {
  bindAddress: string;
  credentialsNamespace: string;
  /** Where the operator runs (its Service lives there). */
  operatorNamespace: string;
  /** In a cluster the API server reaches the webhook through the Service. */
  inCluster: boolean;
  /** Given: the URL the API server is told, whatever else. */
  url?: string;
  serviceName: string;
  configurationName: string;
  secretName: string;
  /** The Secret is written by someone else (cert-manager), never by the operator. */
  externalCertificates?: boolean;
  synced: () => boolean;
  onAdmission?: (outcome: WebhookOutcome) => void;
}

export class PodWebhook {
  readonly certificates: WebhookCertificates;
  private readonly injector: PodInjector;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly options: PodWebhookOptions;
  private configuration: WebhookConfiguration | undefined;
  private served: Awaited<ReturnType<typeof serveWebhook>> | undefined;
  private serving: Promise<void> | undefined;
  private stopped = false;
  private readonly startedAt = Date.now();

  constructor(client: KubeClient, log: Logger, caches: Caches, options: PodWebhookOptions) {
    this.client = client;
    this.log = log;
    this.options = options;
    const svc = `${options.serviceName}.${options.operatorNamespace}.svc`;
    this.certificates = new WebhookCertificates(client, log, {
      namespace: options.credentialsNamespace,
      secretName: options.secretName,
      dnsNames: [svc, `${svc}.cluster.local`, 'localhost'],
      ipAddresses: ['127.0.0.1'],
      external: options.externalCertificates ?? false,
    });
    this.injector = new PodInjector(caches, { synced: options.synced });
  }

  /** Every replica: watch the certificate and serve as soon as there is one. */
  async start(): Promise<void> {
    await this.certificates.start();
    this.serving = this.serve();
  }

  /** The leader: keep the certificate and the MutatingWebhookConfiguration true. */
  lead(): void {
    this.certificates.lead();
    void this.publish();
  }

  /** Undefined while serving; why not, once it has had time to start. */
  problem(graceMs: number): string | undefined {
    if (this.served || Date.now() - this.startedAt < graceMs) return undefined;
    return this.certificates.current() ? 'pod webhook: not serving' : 'pod webhook: not serving (no certificate yet)';
  }

  get isServing(): boolean {
    return this.served !== undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.configuration?.stop();
    this.certificates.stop();
    await this.served?.close();
  }

  private async serve(): Promise<void> {
    while (!this.stopped && !this.served) {
      try {
        this.served = await serveWebhook(this.options.bindAddress, this.certificates, this.injector.handle, {
          path: WEBHOOK_PATH,
          certificateWaitMs: RETRY_MS,
          ...(this.options.onAdmission ? { onServed: this.options.onAdmission } : {}),
          onCertificateError: (err) => this.log.warn({ error: describe(err) }, 'renewed webhook certificate not usable; serving the previous one'),
        });
        if (this.stopped) await this.served.close();
        else this.log.info({ port: this.port }, 'serving the pod webhook');
      } catch (err) {
        this.log.debug({ error: describe(err) }, 'pod webhook not serving yet');
        await new Promise((r) => setTimeout(r, RETRY_MS).unref?.());
      }
    }
  }

  private get port(): number | undefined {
    const address = this.served?.server.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  /** Publishes the configuration once this process serves (out of a cluster its port is the URL's). */
  private async publish(): Promise<void> {
    await this.serving;
    if (this.stopped || this.configuration) return;
    const configuration = new WebhookConfiguration(this.client, this.log, {
      name: this.options.configurationName,
      clientConfig: this.clientConfig(),
      excludedNamespaces: injectionExcludedNamespaces(this.options.operatorNamespace, this.options.credentialsNamespace),
      caBundle: () => this.certificates.caBundle(),
    });
    this.configuration = configuration;
    this.certificates.onChange(() => configuration.refresh());
    configuration.lead();
  }

  private clientConfig(): WebhookClientConfig {
    if (this.options.url) return { url: this.options.url };
    if (this.options.inCluster) {
      return { service: { namespace: this.options.operatorNamespace, name: this.options.serviceName, port: 443, path: WEBHOOK_PATH } };
    }
    return { url: `https://127.0.0.1:${this.port}${WEBHOOK_PATH}` };
  }
}
