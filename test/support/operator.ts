// Runs the real operator binary (node src/main.ts) against the test control plane, capturing its
// JSON logs so tests can wait on them and check that no secret ever appears in them.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

export const LOG_DIR = join('.cluster', 'test-logs');

/**
 * The Secret names the suites render to, allowed in every operator a test starts unless it passes
 * its own --allowed-secret-names. Names outside it get SecretNameNotAllowed, as in a cluster.
 */
export const TEST_SECRET_NAMES = [
  'regcred', 'pull', 'pull-b', 'shared', 'after', 'conc', 'core', 'crash', 'ctl-pull', 'drift', 'fault', 'fg', 'ignored', 'inv', 'kept',
  'kubewide', 'le', 'people', 'plain-pull', 'quiet', 'rot', 'rules', 'sa-all', 'sa-default', 'sa-names', 'sa-sel', 'src', 'term',
  'token-pull', 'pol-delete', 'pol-retain', 'storm-pull', 'ho-pull', 'digest-pull', 'hostile-pull', 'a.b', 'x',
];

export interface OperatorStartOptions {
  credentialsNamespace: string;
  args?: string[];
  /** Wait for this log message before returning (default: caches synced). */
  readyMessage?: string;
  /** Kubeconfig the operator runs with (default: the admin one). */
  kubeconfig?: string;
  /** Flags for node itself, before the script (e.g. `--inspect=127.0.0.1:0`, see `inspectorUrl`). */
  nodeArgs?: string[];
}

export class OperatorProcess {
  readonly child: ChildProcess;
  private output = '';
  private readonly logFile: string;
  metricsPort: number | undefined;
  healthPort: number | undefined;

  private constructor(child: ChildProcess, logFile: string) {
    this.child = child;
    this.logFile = logFile;
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.output += text;
      // Another run's set-up may have emptied the log folder meanwhile: recreate it, keep logging.
      mkdirSync(LOG_DIR, { recursive: true });
      appendFileSync(this.logFile, text);
      for (const line of text.split('\n')) {
        if (!line.includes('"starting"')) continue;
        try {
          const parsed = JSON.parse(line) as { metricsPort?: number; healthPort?: number };
          this.metricsPort = parsed.metricsPort;
          this.healthPort = parsed.healthPort;
        } catch {
          // a partial line; the ports arrive with the full one
        }
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
  }

  static async start(options: OperatorStartOptions): Promise<OperatorProcess> {
    mkdirSync(LOG_DIR, { recursive: true });
    const logFile = join(LOG_DIR, `operator-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
    const child = spawn(process.execPath, [
      ...(options.nodeArgs ?? []),
      'src/main.ts',
      '--kubeconfig', options.kubeconfig ?? inject('kubeconfig'),
      '--credentials-namespace', options.credentialsNamespace,
      '--metrics-bind-address', '127.0.0.1:0',
      '--health-probe-bind-address', '127.0.0.1:0',
      '--log-level', 'debug',
      ...(options.args?.some((a) => a.startsWith('--allowed-secret-names')) ? [] : ['--allowed-secret-names', TEST_SECRET_NAMES.join(',')]),
      // Suites share one control plane: only the files about the pod webhook run one.
      ...(options.args?.some((a) => a.startsWith('--pod-injection')) ? [] : ['--pod-injection=off']),
      ...(options.args ?? []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const op = new OperatorProcess(child, logFile);
    await op.waitForLog(options.readyMessage ?? 'caches synced', 60_000);
    return op;
  }

  logs(): string {
    return this.output;
  }

  /** The V8 inspector's WebSocket URL, printed by node when started with `--inspect` (test/support/heap.ts). */
  get inspectorUrl(): string | undefined {
    return /Debugger listening on (ws:\/\/\S+)/.exec(this.output)?.[1];
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async waitForLog(message: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(`"msg":"${message}"`)) {
      if (this.exited) throw new Error(`operator exited (${this.child.exitCode ?? this.child.signalCode}) before logging "${message}":\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`operator did not log "${message}" within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal and waits for the exit; resolves to the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/**
 * Remembers a password's leak forms for the suite-wide check in global teardown, which reads every
 * operator log of the run: a password of one test file must not show up in another's logs either.
 */
export function recordLeakForms(forms: string[]): void {
  mkdirSync(LOG_DIR, { recursive: true });
  appendFileSync(join(LOG_DIR, 'leak-forms.txt'), forms.map((f) => `${f}\n`).join(''));
}

/** Every way a secret could leak into a log: as is, in base64, and inside a basic-auth pair. */
export function leakForms(username: string, password: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [password, b64(password), b64(`${username}:${password}`)];
}
