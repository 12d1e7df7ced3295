// Command-line parsing for kubectl-regcred: a pure function from argv to what to do, so every
// usage error is found before anything talks to the cluster.
import { parseArgs } from 'node:util';

export const COMMANDS = ['status', 'why', 'reconcile', 'completion'] as const;
export type CommandName = (typeof COMMANDS)[number];

export const STATUS_OUTPUTS = ['json', 'yaml', 'wide'] as const;
export const WHY_OUTPUTS = ['json', 'yaml'] as const;
export const SHELLS = ['bash', 'zsh'] as const;
/** The operator's own default when it does not run in a cluster. */
export const DEFAULT_CREDENTIALS_NAMESPACE = 'regcred-system';
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

export interface Connection {
  kubeconfig?: string;
  context?: string;
}

export type Command =
  | { kind: 'help'; topic?: CommandName }
  | { kind: 'status'; name?: string; output: 'table' | (typeof STATUS_OUTPUTS)[number] }
  | { kind: 'why'; namespace: string; credential?: string; credentialsNamespace: string; output: 'text' | (typeof WHY_OUTPUTS)[number] }
  | { kind: 'reconcile'; name: string; wait: boolean; timeoutMs: number }
  | { kind: 'completion'; shell: (typeof SHELLS)[number] }
  /** Shell completion: the words after the plugin name, the last one being completed. */
  | { kind: 'complete'; words: string[] };

export interface Invocation {
  command: Command;
  connection: Connection;
}

/** A mistake in the command line: reported with a pointer to --help and exit code 2. */
export class UsageError extends Error {
  readonly topic: CommandName | undefined;
  constructor(message: string, topic?: CommandName) {
    super(message);
    this.name = 'UsageError';
    this.topic = topic;
  }
}

/** Every flag, with the commands that take it (global flags: all of them). */
export const FLAGS = {
  kubeconfig: { type: 'string', commands: 'all', value: 'PATH' },
  context: { type: 'string', commands: 'all', value: 'NAME' },
  help: { type: 'boolean', short: 'h', commands: 'all' },
  output: { type: 'string', short: 'o', commands: ['status', 'why'], value: 'FORMAT' },
  credential: { type: 'string', commands: ['why'], value: 'NAME' },
  'credentials-namespace': { type: 'string', commands: ['why'], value: 'NAME' },
  wait: { type: 'boolean', commands: ['reconcile'] },
  timeout: { type: 'string', commands: ['reconcile'], value: 'DURATION' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; short?: string; commands: 'all' | CommandName[]; value?: string }>;

export type FlagName = keyof typeof FLAGS;

export function flagsOf(command: CommandName | undefined): FlagName[] {
  return (Object.keys(FLAGS) as FlagName[]).filter((f) => {
    const scope = FLAGS[f].commands;
    return scope === 'all' || (command !== undefined && (scope as readonly string[]).includes(command));
  });
}

/** 500ms, 30s, 2m, 1h, or a sum such as 1m30s. */
export function parseDuration(value: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(value);
  if (!m || value === '') return undefined;
  const [h, min, s, ms] = [m[1], m[2], m[3], m[4]].map((p) => Number(p ?? 0));
  return ((h! * 60 + min!) * 60 + s!) * 1000 + ms!;
}

const isCommand = (word: string | undefined): word is CommandName => (COMMANDS as readonly string[]).includes(word ?? '');

export function parseInvocation(argv: string[]): Invocation {
  if (argv[0] === '__complete') return { command: { kind: 'complete', words: argv.slice(1) }, connection: {} };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const first = argv.find((a) => !a.startsWith('-'));
    throw new UsageError(cleanParseError(err), isCommand(first) ? first : undefined);
  }
  const { values, positionals } = parsed;
  const connection: Connection = {
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
  };
  const [name, ...rest] = positionals;
  if (name === 'help') {
    const topic = rest[0];
    if (topic !== undefined && !isCommand(topic)) throw new UsageError(`unknown command "${topic}"`);
    return { command: { kind: 'help', ...(topic ? { topic } : {}) }, connection };
  }
  if (name === undefined) return { command: { kind: 'help' }, connection };
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}"`);
  if (values.help) return { command: { kind: 'help', topic: name }, connection };

  const allowed = new Set<string>(flagsOf(name));
  for (const flag of Object.keys(values)) {
    if (!allowed.has(flag)) throw new UsageError(`flag --${flag} does not apply to "${name}"`, name);
  }
  const command = commandOf(name, rest, values);
  return { command, connection };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type, ...('short' in f ? { short: f.short } : {}) }]),
    ) as { [K in FlagName]: { type: (typeof FLAGS)[K]['type']; short?: string } },
  });
}

type Values = ReturnType<typeof parse>['values'];

function commandOf(name: CommandName, args: string[], values: Values): Command {
  const arity = (min: number, max: number, what: string) => {
    if (args.length < min) throw new UsageError(`"${name}" needs ${what}`, name);
    if (args.length > max) throw new UsageError(`"${name}" takes ${max === 0 ? 'no arguments' : what}, got extra argument "${args[max]}"`, name);
  };
  switch (name) {
    case 'status': {
      arity(0, 1, 'at most one RegistryCredential name');
      const output = oneOf(values.output, STATUS_OUTPUTS, '-o', name) ?? 'table';
      return { kind: 'status', ...(args[0] ? { name: args[0] } : {}), output };
    }
    case 'why': {
      arity(1, 1, 'a namespace');
      const output = oneOf(values.output, WHY_OUTPUTS, '-o', name) ?? 'text';
      return {
        kind: 'why',
        namespace: args[0]!,
        ...(values.credential !== undefined ? { credential: values.credential } : {}),
        credentialsNamespace: values['credentials-namespace'] ?? DEFAULT_CREDENTIALS_NAMESPACE,
        output,
      };
    }
    case 'reconcile': {
      arity(1, 1, 'a RegistryCredential name');
      let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
      if (values.timeout !== undefined) {
        const ms = parseDuration(values.timeout);
        if (ms === undefined || ms === 0) throw new UsageError(`--timeout must be a duration such as 30s or 2m, got "${values.timeout}"`, name);
        if (!values.wait) throw new UsageError('--timeout needs --wait', name);
        timeoutMs = ms;
      }
      return { kind: 'reconcile', name: args[0]!, wait: values.wait ?? false, timeoutMs };
    }
    case 'completion': {
      arity(1, 1, 'a shell: bash or zsh');
      const shell = oneOf(args[0], SHELLS, 'the shell', name)!;
      return { kind: 'completion', shell };
    }
  }
}

function oneOf<T extends string>(value: string | undefined, options: readonly T[], what: string, topic: CommandName): T | undefined {
  if (value === undefined) return undefined;
  if ((options as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${what} must be one of ${options.join(', ')}, got "${value}"`, topic);
}

/** node's parseArgs messages are long and mention its own API; keep the part a person acts on. */
function cleanParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const flag = /--[\w-]+/.exec(quoted)?.[0] ?? quoted.split(' ')[0];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${flag}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return /argument missing/.test(message) ? `flag ${flag} needs a value` : `flag ${flag} takes no value`;
  return message.split('\n')[0]!;
}
