// The plugin's commands: parse, run, print; every failure becomes one line on stderr and a
// non-zero exit code (1 for a failure, 2 for wrong usage).
import type { RegistryCredential } from '../api/schema.ts';
import { KubeError, RESOURCES, type KubeClient } from '../kube/client.ts';
import type { Namespace } from '../kube/objects.ts';
import { parseInvocation, UsageError, type Connection, type Invocation } from './args.ts';
import { connect, loadKubeConfig } from './cluster.ts';
import { completionRequest, completionScript, connectionFromWords, formatCompletions } from './completion.ts';
import { helpText } from './help.ts';
import { requestReconcile, waitHandled } from './reconcile.ts';
import { renderStatus, statusRow } from './status.ts';
import { explainAll, renderWhy } from './why.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  now(): Date;
}

export async function run(argv: string[], io: Io): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const more = err.topic ? `kubectl regcred ${err.topic} --help` : 'kubectl regcred --help';
    io.err(`error: ${err.message} (see ${more})\n`);
    return 2;
  }
  try {
    await execute(invocation, io);
    return 0;
  } catch (err) {
    io.err(`error: ${oneLine(err, invocation.connection)}\n`);
    return 1;
  }
}

async function execute({ command, connection }: Invocation, io: Io): Promise<void> {
  switch (command.kind) {
    case 'help':
      io.out(helpText(command.topic));
      return;
    case 'completion':
      io.out(completionScript(command.shell));
      return;
    case 'complete':
      io.out(await complete(command.words));
      return;
    case 'status': {
      const client = connect(connection);
      const items = command.name
        ? [await client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, command.name)]
        : (await client.list<RegistryCredential>(RESOURCES.registryCredentials)).items;
      const rows = items.map(statusRow).sort((a, b) => a.name.localeCompare(b.name));
      if (rows.length === 0 && (command.output === 'table' || command.output === 'wide')) io.err('No RegistryCredentials found.\n');
      else io.out(renderStatus(rows, command.output, io.now()));
      return;
    }
    case 'why': {
      const explanations = await explainAll(connect(connection), command.namespace, command.credentialsNamespace, command.credential);
      if (explanations.length === 0 && command.output === 'text') io.err('No RegistryCredentials found.\n');
      else io.out(renderWhy(explanations, command.output));
      return;
    }
    case 'reconcile': {
      const client = connect(connection);
      const requestedAt = await requestReconcile(client, command.name, io.now());
      io.out(`registrycredential.regcred.dev/${command.name} reconcile requested at ${requestedAt}\n`);
      if (command.wait) {
        await waitHandled(client, command.name, requestedAt, command.timeoutMs);
        io.out(`registrycredential.regcred.dev/${command.name} reconciled\n`);
      }
      return;
    }
  }
}

/** Candidates for the word being completed; names from the cluster, none if it cannot be reached. */
async function complete(words: string[]): Promise<string> {
  const all = words.length ? words : [''];
  const current = all.at(-1)!;
  const request = completionRequest(all);
  const connection = connectionFromWords(all);
  let candidates: string[] = [];
  try {
    if (request.kind === 'words') candidates = request.words;
    else if (request.kind === 'contexts') candidates = loadKubeConfig({ ...(connection.kubeconfig ? { kubeconfig: connection.kubeconfig } : {}) }).getContexts().map((c) => c.name);
    else if (request.kind === 'credentials') candidates = await names(connect(connection), 'credentials');
    else if (request.kind === 'namespaces') candidates = await names(connect(connection), 'namespaces');
  } catch {
    // No cluster, no names: completion must never print an error into the command line.
  }
  return formatCompletions(candidates, current, request.directive);
}

async function names(client: KubeClient, what: 'credentials' | 'namespaces'): Promise<string[]> {
  const res = what === 'credentials' ? RESOURCES.registryCredentials : RESOURCES.namespaces;
  const list = await client.list<RegistryCredential | Namespace>(res, undefined, {}, true);
  return list.items.map((o) => o.metadata.name).sort();
}

function oneLine(err: unknown, connection: Connection): string {
  let message: string;
  if (err instanceof KubeError) message = err.message;
  else if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const code = (err as { code?: string }).code;
    message = code?.startsWith('UND_ERR') || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH/.test(`${err.message} ${String(cause)}`)
      ? `cannot reach the API server${connection.context ? ` of context ${connection.context}` : ''}: ${err.message}${cause instanceof Error ? ` (${cause.message})` : ''}`
      : err.message;
  } else message = String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
