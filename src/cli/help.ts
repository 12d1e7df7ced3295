// --help texts. Flags are listed from the same table the parser uses, so neither can drift.
import { DEFAULT_CREDENTIALS_NAMESPACE, FLAGS, flagsOf, type CommandName, type FlagName } from './args.ts';

const FLAG_HELP: Record<FlagName, string> = {
  kubeconfig: 'kubeconfig file (default $KUBECONFIG, else ~/.kube/config)',
  context: 'kubeconfig context to use (default the current context)',
  help: 'show this help',
  output: 'output format',
  credential: 'explain this RegistryCredential only (default every one)',
  'credentials-namespace': `the operator's --credentials-namespace (default ${DEFAULT_CREDENTIALS_NAMESPACE})`,
  wait: 'wait until the operator has handled the request',
  timeout: 'how long --wait waits (default 60s)',
};

const OUTPUTS: Partial<Record<CommandName, string>> = { status: 'json|yaml|wide', why: 'json|yaml' };

const COMMAND_HELP: Record<CommandName, { usage: string; text: string }> = {
  status: {
    usage: 'kubectl regcred status [NAME] [-o json|yaml|wide]',
    text: `One line per RegistryCredential (or the one named): READY (the Ready condition's status/reason),
SYNCED/MATCHED namespaces, CONFLICTS (namespaces failing with SecretConflict; "+" when
status.failures lists only some of the failed namespaces), LAST ROTATION, VALIDATION (the
CredentialsValid condition), and SUSPENDED when a credential sets spec.suspend.`,
  },
  why: {
    usage: 'kubectl regcred why NAMESPACE [--credential NAME] [--credentials-namespace NAME] [-o json|yaml]',
    text: `Why NAMESPACE has or lacks each RegistryCredential's Secret and ServiceAccount entries: the
selection rule that decided (opt-out label, exclude glob, include globs, label selector, namespace
being deleted, credentials namespace), computed by the operator's own selection code; then what
is there: the Secret (absent, held by the credential, by another one, or a conflict) and each
selected ServiceAccount's imagePullSecrets entry.`,
  },
  reconcile: {
    usage: 'kubectl regcred reconcile NAME [--wait [--timeout 60s]]',
    text: `Asks the operator to reconcile NAME now, by setting the annotation
reconcile.regcred.dev/requestedAt to the current time. With --wait, waits until
status.lastHandledReconcileAt equals that time; exits non-zero on timeout.`,
  },
  completion: {
    usage: 'kubectl regcred completion bash|zsh',
    text: `Prints a shell completion script for the kubectl-regcred command:
  source <(kubectl regcred completion bash)
Completion of "kubectl regcred ..." itself (kubectl 1.26 or later) comes from the
kubectl_complete-regcred executable installed beside kubectl-regcred.`,
  },
};

function flagLines(command: CommandName | undefined): string {
  return flagsOf(command)
    .map((f) => {
      const spec = FLAGS[f];
      const short = 'short' in spec ? `-${spec.short}, ` : '    ';
      const value = f === 'output' && command ? OUTPUTS[command] : 'value' in spec ? spec.value : '';
      return `  ${short}--${f}${value ? ` ${value}` : ''}`.padEnd(40) + FLAG_HELP[f];
    })
    .join('\n');
}

export function helpText(topic?: CommandName): string {
  if (topic) {
    const c = COMMAND_HELP[topic];
    return `Usage: ${c.usage}\n\n${c.text}\n\nFlags:\n${flagLines(topic)}\n`;
  }
  const commands = (Object.keys(COMMAND_HELP) as CommandName[]).map((c) => `  ${COMMAND_HELP[c].usage}`).join('\n');
  return `kubectl regcred: inspect and nudge regcred-operator's RegistryCredentials.

Commands:
${commands}

Global flags:
${flagLines(undefined)}

Run "kubectl regcred COMMAND --help" for more about a command.
Exit codes: 0 success, 1 failure, 2 wrong usage.
`;
}
