// Records Kubernetes Events (events.k8s.io/v1) about pods, in the pod's namespace. A failed Event
// write is logged, never fatal.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { RESOURCES, type KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { microTime } from '../../kube/time.ts';
import { REPORTING_CONTROLLER } from '../events.ts';
import type { Pod } from './pods.ts';

export class PodEventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly instance: string;

  constructor(client: KubeClient, log: Logger, instance = process.env.POD_NAME ?? hostname()) {
    this.client = client;
    this.log = log;
    this.instance = instance;
  }

  async record(pod: Pod, event: { type: 'Normal' | 'Warning'; reason: string; action: string; note: string }): Promise<void> {
    const namespace = pod.metadata.namespace!;
    try {
      await this.client.create(RESOURCES.events, namespace, {
        metadata: { generateName: `${pod.metadata.name}-`, namespace },
        eventTime: microTime(new Date()),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.instance,
        action: event.action,
        type: event.type,
        reason: event.reason,
        note: event.note.slice(0, 1000),
        regarding: { apiVersion: 'v1', kind: 'Pod', namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      });
    } catch (err) {
      this.log.warn({ pod: `${namespace}/${pod.metadata.name}`, reason: event.reason, error: describe(err) }, 'could not record event');
    }
  }
}
