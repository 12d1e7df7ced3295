// Checks each credential's registries in the background: when what is rendered changes, when asked
// through the validate-requested-at annotation, and again every interval (jittered). It never
// writes: when a check ends it wakes the credential, whose reconcile puts the results into the
// status, so the status still has one writer and propagation never waits for a registry.
import PQueue from 'p-queue';
import type { RegistryStatus } from '../../api/schema.ts';
import { kubeTime } from '../../kube/time.ts';
import { probeRegistry, type ProbeOptions, type ProbeOutcome, type ProbeTarget } from './probe.ts';
import type { ValidationInputs, ValidationTarget } from './targets.ts';

export type Probe = (target: ProbeTarget, options: ProbeOptions) => Promise<ProbeOutcome>;

export interface ValidatorOptions {
  /** Asks for a reconcile of the credential, which writes the results into its status. */
  wake: (credential: string) => void;
  /** Registries checked at once, across every credential (default 4). */
  concurrency?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  probe?: Probe;
  now?: () => Date;
  random?: () => number;
  /** Told the results of every finished check, e.g. for metrics. */
  onResults?: (credential: string, results: RegistryStatus[]) => void;
  /** Told when a credential's results are dropped. */
  onForget?: (credential: string) => void;
}

interface State {
  inputs: ValidationInputs;
  intervalMs: number;
  /** The digest the results describe. */
  checkedDigest?: string;
  results?: RegistryStatus[];
  /** The digest of the check in progress. */
  checking?: string;
  /** Inputs changed or a check was asked for while one was running. */
  again: boolean;
  /** The last validate-requested-at value acted on. */
  handledRequest?: string;
  timer?: ReturnType<typeof setTimeout>;
}

export class Validator {
  private readonly states = new Map<string, State>();
  private readonly queue: PQueue;
  private readonly options: ValidatorOptions;
  private readonly probe: Probe;
  private stopped = false;

  constructor(options: ValidatorOptions) {
    this.options = options;
    this.queue = new PQueue({ concurrency: options.concurrency ?? 4 });
    this.probe = options.probe ?? probeRegistry;
  }

  /**
   * What the credential renders now. Starts a check when the results do not describe it, or when
   * `requestedAt` (the annotation) is new; otherwise only keeps the inputs for the next periodic one.
   */
  observe(credential: string, inputs: ValidationInputs, intervalMs: number, requestedAt?: string): void {
    if (this.stopped) return;
    let state = this.states.get(credential);
    if (!state) this.states.set(credential, (state = { inputs, intervalMs, again: false }));
    const requested = requestedAt !== undefined && requestedAt !== state.handledRequest;
    state.inputs = inputs;
    state.intervalMs = intervalMs;
    if (requested) state.handledRequest = requestedAt;
    if (state.checking !== undefined) {
      if (requested || inputs.digest !== state.checking) state.again = true;
      return;
    }
    if (requested || inputs.digest !== state.checkedDigest) void this.check(credential, state);
  }

  /** The results of the last finished check of what is rendered now; undefined while there are none. */
  results(credential: string): RegistryStatus[] | undefined {
    const state = this.states.get(credential);
    return state && state.checkedDigest === state.inputs.digest ? state.results : undefined;
  }

  forget(credential: string): void {
    const state = this.states.get(credential);
    if (state?.timer) clearTimeout(state.timer);
    if (state) this.options.onForget?.(credential);
    this.states.delete(credential);
  }

  stop(): void {
    this.stopped = true;
    for (const name of [...this.states.keys()]) this.forget(name);
    this.queue.clear();
  }

  private async check(credential: string, state: State): Promise<void> {
    if (state.timer) clearTimeout(state.timer);
    state.timer = undefined;
    const inputs = state.inputs;
    state.checking = inputs.digest;
    state.again = false;
    const results = await Promise.all(inputs.targets.map(async (t) => (await this.queue.add(() => this.checkOne(t)))!));
    // Forgotten meanwhile (deleted, validation turned off, stopping): nothing to report.
    if (this.states.get(credential) !== state) return;
    state.checking = undefined;
    state.results = results;
    state.checkedDigest = inputs.digest;
    this.options.onResults?.(credential, results);
    if (state.again) {
      void this.check(credential, state);
    } else {
      const jitter = 0.9 + (this.options.random ?? Math.random)() * 0.2;
      state.timer = setTimeout(() => void this.check(credential, state), Math.round(state.intervalMs * jitter));
      state.timer.unref?.();
    }
    this.options.wake(credential);
  }

  private async checkOne(target: ValidationTarget): Promise<RegistryStatus> {
    const flags = {
      ...(target.insecureSkipTLSVerify ? { insecureSkipTLSVerify: true } : {}),
    };
    if (target.caProblem) {
      return { server: target.server, result: 'TLSError', message: target.caProblem, checkedAt: this.now(), ...flags };
    }
    let outcome: ProbeOutcome;
    try {
      outcome = await this.probe(
        {
          server: target.server,
          username: target.username,
          password: target.password,
          ...(target.caBundle !== undefined ? { caBundle: target.caBundle } : {}),
          ...(target.insecureSkipTLSVerify ? { insecureSkipTLSVerify: true } : {}),
        },
        { timeoutMs: this.options.timeoutMs ?? 10_000 },
      );
    } catch (err) {
      // The probe reports every failure as a result; this is a bug in it, never a registry's answer.
      outcome = { server: target.server, result: 'Unexpected', message: `the check failed: ${err instanceof Error ? err.name : 'error'}` };
    }
    return {
      server: target.server,
      result: outcome.result,
      message: outcome.message.slice(0, 1024),
      checkedAt: this.now(),
      ...flags,
      ...(outcome.plainHTTP ? { plainHTTP: true } : {}),
    };
  }

  private now(): string {
    return kubeTime((this.options.now ?? (() => new Date()))());
  }
}
