// Shell completion. kubectl (1.26+) runs kubectl_complete-regcred with the words after
// "kubectl regcred", the last one being the word to complete, and reads one candidate per line,
// optionally ended by ":<directive>" (cobra's ShellCompDirective). The scripts for bash and zsh
// ask "kubectl-regcred __complete" the same question.
import { COMMANDS, FLAGS, flagsOf, SHELLS, STATUS_OUTPUTS, WHY_OUTPUTS, type CommandName, type FlagName } from './args.ts';

/** cobra's ShellCompDirective values. */
export const DIRECTIVE = { default: 0, noSpace: 2, noFileComp: 4 } as const;

/** What the word being completed can be: fixed words, or names the cluster has to give. */
export type CompletionRequest =
  | { kind: 'words'; words: string[]; directive: number }
  | { kind: 'credentials' | 'namespaces' | 'contexts'; directive: number }
  | { kind: 'files'; directive: number };

const takesValue = (flag: string): FlagName | undefined => {
  const name = flag.replace(/^--?/, '');
  const entry = (Object.entries(FLAGS) as Array<[FlagName, (typeof FLAGS)[FlagName]]>).find(([k, f]) => k === name || ('short' in f && f.short === name));
  return entry && entry[1].type === 'string' ? entry[0] : undefined;
};

/** The command and positional arguments among the words before the one being completed. */
function scan(words: string[]): { command: CommandName | undefined; positionals: string[] } {
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith('-')) {
      if (!w.includes('=') && takesValue(w)) i++;
      continue;
    }
    positionals.push(w);
  }
  const first = positionals[0];
  const command = (COMMANDS as readonly string[]).includes(first ?? '') ? (first as CommandName) : undefined;
  return { command, positionals: positionals.slice(1) };
}

export function completionRequest(words: string[]): CompletionRequest {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const previous = before.at(-1);
  const { command, positionals } = scan(before);
  const valueOf = previous && previous.startsWith('-') && !previous.includes('=') ? takesValue(previous) : undefined;
  if (valueOf) return valueRequest(valueOf, command);
  if (current.startsWith('-')) {
    return { kind: 'words', words: flagsOf(command).map((f) => `--${f}`), directive: DIRECTIVE.noFileComp };
  }
  if (!command) return { kind: 'words', words: [...COMMANDS, 'help'], directive: DIRECTIVE.noFileComp };
  if (positionals.length > 0) return { kind: 'words', words: [], directive: DIRECTIVE.noFileComp };
  switch (command) {
    case 'status':
    case 'reconcile':
      return { kind: 'credentials', directive: DIRECTIVE.noFileComp };
    case 'why':
      return { kind: 'namespaces', directive: DIRECTIVE.noFileComp };
    case 'completion':
      return { kind: 'words', words: [...SHELLS], directive: DIRECTIVE.noFileComp };
  }
}

function valueRequest(flag: FlagName, command: CommandName | undefined): CompletionRequest {
  switch (flag) {
    case 'output':
      return { kind: 'words', words: [...(command === 'why' ? WHY_OUTPUTS : STATUS_OUTPUTS)], directive: DIRECTIVE.noFileComp };
    case 'credential':
      return { kind: 'credentials', directive: DIRECTIVE.noFileComp };
    case 'credentials-namespace':
      return { kind: 'namespaces', directive: DIRECTIVE.noFileComp };
    case 'context':
      return { kind: 'contexts', directive: DIRECTIVE.noFileComp };
    case 'kubeconfig':
      return { kind: 'files', directive: DIRECTIVE.default };
    default:
      return { kind: 'words', words: [], directive: DIRECTIVE.noFileComp };
  }
}

/** The answer as kubectl and the scripts read it: matching candidates, then ":<directive>". */
export function formatCompletions(candidates: string[], current: string, directive: number): string {
  const matching = candidates.filter((c) => c.startsWith(current));
  return [...matching, `:${directive}`].join('\n') + '\n';
}

/** --kubeconfig and --context given among the words, so completion asks the cluster they name. */
export function connectionFromWords(words: string[]): { kubeconfig?: string; context?: string } {
  const out: { kubeconfig?: string; context?: string } = {};
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i]!;
    for (const flag of ['kubeconfig', 'context'] as const) {
      if (w === `--${flag}` && i + 1 < words.length - 1) out[flag] = words[i + 1]!;
      else if (w.startsWith(`--${flag}=`)) out[flag] = w.slice(flag.length + 3);
    }
  }
  return out;
}

const BASH = `# bash completion for kubectl-regcred; load with: source <(kubectl-regcred completion bash)
_kubectl_regcred() {
  local cur=\${COMP_WORDS[COMP_CWORD]} line directive=0
  COMPREPLY=()
  while IFS= read -r line; do
    case $line in
      :*) directive=\${line#:} ;;
      ?*) COMPREPLY+=("$line") ;;
    esac
  done < <(kubectl-regcred __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if (( \${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -F _kubectl_regcred kubectl-regcred
`;

const ZSH = `#compdef kubectl-regcred
# zsh completion for kubectl-regcred; load with: source <(kubectl-regcred completion zsh)
_kubectl_regcred() {
  local -a comps
  local line directive=0
  for line in "\${(@f)$(kubectl-regcred __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
    if [[ $line == :* ]]; then
      directive=\${line#:}
    elif [[ -n $line ]]; then
      comps+=("$line")
    fi
  done
  if (( \${#comps} )); then
    compadd -a comps
  elif (( (directive & 4) == 0 )); then
    _files
  fi
}
compdef _kubectl_regcred kubectl-regcred
`;

export function completionScript(shell: 'bash' | 'zsh'): string {
  return shell === 'bash' ? BASH : ZSH;
}
