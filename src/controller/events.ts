// Records Kubernetes Events (events.k8s.io/v1) about RegistryCredentials. Notes come from status
// messages, which never hold secret bytes. A failed Event write is logged, never fatal.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { API_VERSION, KIND, type RegistryCredential } from '../api/schema.ts';
import { RESOURCES, type KubeClient } from '../kube/client.ts';
import { microTime } from '../kube/time.ts';
import { describe } from '../kube/errors.ts';
import type { EventSpec } from './status.ts';

export const REPORTING_CONTROLLER = 'regcred.dev/regcred-operator';
// The API server requires Events about cluster-scoped objects to live in the default namespace.
export const EVENT_NAMESPACE = 'default';

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly namespace: string;

  constructor(client: KubeClient, log: Logger, namespace = EVENT_NAMESPACE, instance = process.env.POD_NAME ?? hostname()) {
    this.client = client;
    this.log = log;
    this.namespace = namespace;
    this.instance = instance;
  }

  async record(rc: RegistryCredential, event: EventSpec): Promise<void> {
    const now = new Date();
    try {
      await this.client.create(RESOURCES.events, this.namespace, {
        metadata: { generateName: `${rc.metadata.name}-`, namespace: this.namespace },
        eventTime: microTime(now),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.instance,
        action: 'Reconcile',
        type: event.type,
        reason: event.reason,
        note: event.note.slice(0, 1000),
        regarding: { apiVersion: API_VERSION, kind: KIND, name: rc.metadata.name, uid: rc.metadata.uid },
      });
    } catch (err) {
      this.log.warn({ credential: rc.metadata.name, reason: event.reason, error: describe(err) }, 'could not record event');
    }
  }
}
