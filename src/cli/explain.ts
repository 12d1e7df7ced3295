// `kubectl regcred why`: why a namespace has or lacks one RegistryCredential's Secret and
// ServiceAccount entries. A pure function of the objects read. Whether the namespace is selected is
// decided by the operator's own selection functions; the rule named is the first one, in the
// operator's order, that rejects it, and a rejection this file cannot name is said to be so.
import { IGNORE_LABEL, MANAGED_BY_LABEL } from '../api/labels.ts';
import { resolveSpec, type Condition, type Failure, type LabelSelector, type RegistryCredential, type ResolvedSpec } from '../api/schema.ts';
import { hasEntry, heldBy, ours, ourEntries, ownedBy, ownerUid, validHolder } from '../controller/desired.ts';
import { globMatch, matchesLabelSelector, namespaceSelected, serviceAccountSelected } from '../controller/selection.ts';
import { isTerminating, type Namespace, type Secret, type ServiceAccount } from '../kube/objects.ts';

export interface ExplainInput {
  credential: RegistryCredential;
  namespaceName: string;
  /** Undefined when the namespace does not exist. */
  namespace: Namespace | undefined;
  /** The operator's --credentials-namespace. */
  credentialsNamespace: string;
  /** The Secret named spec.secretName in the namespace, whoever made it. */
  secret: Secret | undefined;
  serviceAccounts: ServiceAccount[];
  /** The UID of the existing RegistryCredential of that name. */
  credentialUid(name: string): string | undefined;
}

/** One requirement of a label selector the namespace's labels fail, with the label involved. */
export interface SelectorMismatch {
  requirement: string;
  key: string;
  /** The namespace's value of the label; undefined when it has none. */
  actual: string | undefined;
}

export type NamespaceRule =
  | { rule: 'selected' }
  | { rule: 'namespaceMissing' }
  | { rule: 'invalidSpec'; message: string }
  | { rule: 'terminating' }
  | { rule: 'optOut'; label: string }
  | { rule: 'credentialsNamespace'; namespace: string }
  | { rule: 'excluded'; glob: string }
  | { rule: 'notIncluded'; include: string[] }
  | { rule: 'selectorMismatch'; mismatches: SelectorMismatch[] }
  /** The operator's selection rejects the namespace for a rule not described here. */
  | { rule: 'other' };

export type SecretState =
  | { state: 'absent' }
  /** Our labels name this credential and the owner mark carries its UID. */
  | { state: 'ours' }
  /** Validly held by another RegistryCredential with the same secretName. */
  | { state: 'rival'; holder: string }
  /** Our labels, but no owner mark of an existing RegistryCredential: never touched. */
  | { state: 'unowned'; claims: string | undefined; ownerUid: string | undefined }
  /** Made by someone else: never touched. */
  | { state: 'foreign'; managedBy: string | undefined };

export type ServiceAccountReason = 'name' | 'wildcard' | 'selector' | 'optOut' | 'terminating' | 'notSelected' | 'missing' | 'namespaceNotSelected';

export interface ServiceAccountExplanation {
  name: string;
  selected: boolean;
  reason: ServiceAccountReason;
  /** imagePullSecrets lists the Secret. */
  entry: boolean;
  /** Our annotation records that the operator added the entry. */
  addedByOperator: boolean;
}

export interface Explanation {
  credential: string;
  namespace: string;
  secretName: string;
  deletionPolicy?: ResolvedSpec['deletionPolicy'];
  selected: boolean;
  rule: NamespaceRule;
  secret: SecretState;
  serviceAccounts: ServiceAccountExplanation[];
  /** status.failures' entry for the namespace. */
  failure?: Failure;
  /** The credential's Ready condition when it is not True: it may explain why nothing was written. */
  notReady?: Pick<Condition, 'reason' | 'message'>;
  deleting: boolean;
  /** One sentence: has or lacks the Secret, and why. */
  verdict: string;
}

/**
 * The operator's decision. Kept in one place so that a change of the selection functions'
 * signature is adapted here alone.
 */
function operatorSelects(spec: ResolvedSpec, ns: Namespace, credentialsNamespace: string): boolean {
  return namespaceSelected(spec, ns, credentialsNamespace);
}

function describeRequirement(selector: LabelSelector, labels: Record<string, string>): SelectorMismatch[] {
  const out: SelectorMismatch[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) out.push({ requirement: `${key}=${value}`, key, actual: labels[key] });
  }
  for (const req of selector.matchExpressions ?? []) {
    if (matchesLabelSelector({ matchExpressions: [req] }, labels)) continue;
    const values = req.values?.length ? ` (${req.values.join(', ')})` : '';
    out.push({ requirement: `${req.key} ${req.operator}${values}`, key: req.key, actual: labels[req.key] });
  }
  return out;
}

/** The first rule, in the operator's order, that rejects the namespace. */
function rejectingRule(spec: ResolvedSpec, ns: Namespace, credentialsNamespace: string): NamespaceRule | undefined {
  const name = ns.metadata.name;
  const labels = ns.metadata.labels ?? {};
  const rules = spec.namespaces;
  if (isTerminating(ns)) return { rule: 'terminating' };
  if (labels[IGNORE_LABEL] === 'true') return { rule: 'optOut', label: `${IGNORE_LABEL}=true` };
  if (name === credentialsNamespace && !rules.include?.includes(name)) return { rule: 'credentialsNamespace', namespace: name };
  const excludedBy = rules.exclude.find((g) => globMatch(g, name));
  if (excludedBy !== undefined) return { rule: 'excluded', glob: excludedBy };
  if (rules.include && !rules.include.some((g) => globMatch(g, name))) return { rule: 'notIncluded', include: rules.include };
  if (rules.selector && !matchesLabelSelector(rules.selector, labels)) return { rule: 'selectorMismatch', mismatches: describeRequirement(rules.selector, labels) };
  return undefined;
}

function namespaceRule(input: ExplainInput, spec: ResolvedSpec | undefined, invalid: string | undefined): { selected: boolean; rule: NamespaceRule } {
  if (!input.namespace) return { selected: false, rule: { rule: 'namespaceMissing' } };
  if (!spec) return { selected: false, rule: { rule: 'invalidSpec', message: invalid ?? 'invalid spec' } };
  if (operatorSelects(spec, input.namespace, input.credentialsNamespace)) return { selected: true, rule: { rule: 'selected' } };
  const named = rejectingRule(spec, input.namespace, input.credentialsNamespace);
  return { selected: false, rule: named ?? { rule: 'other' } };
}

function secretState(input: ExplainInput): SecretState {
  const secret = input.secret;
  if (!secret) return { state: 'absent' };
  const self = { name: input.credential.metadata.name, uid: input.credential.metadata.uid ?? '' };
  if (ownedBy(secret, self)) return { state: 'ours' };
  const holder = validHolder(secret, input.credentialUid);
  if (holder !== undefined) return { state: 'rival', holder };
  if (ours(secret)) return { state: 'unowned', claims: heldBy(secret), ownerUid: ownerUid(secret) };
  return { state: 'foreign', managedBy: secret.metadata.labels?.[MANAGED_BY_LABEL] };
}

function serviceAccountReason(spec: ResolvedSpec, sa: ServiceAccount): ServiceAccountReason {
  if (sa.metadata.labels?.[IGNORE_LABEL] === 'true') return 'optOut';
  if (sa.metadata.deletionTimestamp) return 'terminating';
  const { names, selector } = spec.serviceAccounts;
  if (names.includes(sa.metadata.name)) return 'name';
  if (names.includes('*')) return 'wildcard';
  if (selector && matchesLabelSelector(selector, sa.metadata.labels)) return 'selector';
  return 'notSelected';
}

/**
 * The ServiceAccounts worth a line: those selected, those named in spec.serviceAccounts.names
 * (present or not), and those still carrying an entry the operator added. In a namespace that is
 * not selected no ServiceAccount is: only those that list the Secret are shown.
 */
function serviceAccountLines(spec: ResolvedSpec, secretName: string, serviceAccounts: ServiceAccount[]): ServiceAccountExplanation[] {
  const lines: ServiceAccountExplanation[] = [];
  for (const sa of [...serviceAccounts].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const selected = serviceAccountSelected(spec, sa);
    const addedByOperator = ourEntries(sa).includes(secretName);
    const reason = serviceAccountReason(spec, sa);
    if (!selected && !spec.serviceAccounts.names.includes(sa.metadata.name) && !addedByOperator) continue;
    lines.push({ name: sa.metadata.name, selected, reason: selected || reason !== 'name' ? reason : 'notSelected', entry: hasEntry(sa, secretName), addedByOperator });
  }
  const present = new Set(serviceAccounts.map((sa) => sa.metadata.name));
  for (const name of spec.serviceAccounts.names) {
    if (name !== '*' && !present.has(name)) lines.push({ name, selected: false, reason: 'missing', entry: false, addedByOperator: false });
  }
  return lines;
}

function listingTheSecret(secretName: string, serviceAccounts: ServiceAccount[]): ServiceAccountExplanation[] {
  return serviceAccounts
    .filter((sa) => hasEntry(sa, secretName))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((sa) => ({ name: sa.metadata.name, selected: false, reason: 'namespaceNotSelected', entry: true, addedByOperator: ourEntries(sa).includes(secretName) }));
}

export function describeRule(rule: NamespaceRule): string {
  switch (rule.rule) {
    case 'selected':
      return 'selected: it passes every namespace rule';
    case 'namespaceMissing':
      return 'the namespace does not exist';
    case 'invalidSpec':
      return `the credential's spec is invalid, so it selects nothing: ${rule.message}`;
    case 'terminating':
      return 'not selected: the namespace is being deleted';
    case 'optOut':
      return `not selected: the namespace opts out with the label ${rule.label}`;
    case 'credentialsNamespace':
      return `not selected: ${rule.namespace} is the credentials namespace, selected only when spec.namespaces.include names it`;
    case 'excluded':
      return `not selected: excluded by the glob "${rule.glob}" of spec.namespaces.exclude`;
    case 'notIncluded':
      return `not selected: the name matches no glob of spec.namespaces.include (${rule.include.map((g) => `"${g}"`).join(', ')})`;
    case 'selectorMismatch':
      return `not selected: the labels do not match spec.namespaces.selector: ${rule.mismatches
        .map((m) => `${m.requirement} required, the namespace has ${m.actual === undefined ? `no label ${m.key}` : `${m.key}=${m.actual}`}`)
        .join('; ')}`;
    case 'other':
      return "not selected by the operator's selection rules";
  }
}

export function describeSecret(state: SecretState, secretName: string): string {
  switch (state.state) {
    case 'absent':
      return `Secret ${secretName}: absent`;
    case 'ours':
      return `Secret ${secretName}: present, held by this RegistryCredential (our labels and its UID as owner)`;
    case 'rival':
      return `Secret ${secretName}: present, held by RegistryCredential ${state.holder}, which has the same secretName`;
    case 'unowned':
      return `Secret ${secretName}: present with regcred-operator's labels${state.claims ? ` naming ${state.claims}` : ''} but ${state.ownerUid ? `an owner mark (UID ${state.ownerUid}) of no existing RegistryCredential of that name` : 'no owner mark'}: a conflict, left untouched`;
    case 'foreign':
      return `Secret ${secretName}: present, not managed by regcred-operator${state.managedBy ? ` (managed by ${state.managedBy})` : ''}: a conflict, left untouched`;
  }
}

function verdict(e: Omit<Explanation, 'verdict'>): string {
  const s = e.secret.state;
  if (e.rule.rule === 'namespaceMissing') return 'lacks the Secret: the namespace does not exist';
  if (e.selected) {
    if (s === 'ours') {
      const missing = e.serviceAccounts.filter((sa) => sa.selected && !sa.entry).map((sa) => sa.name);
      return missing.length ? `has the Secret; entries not yet in ${missing.join(', ')}` : 'has the Secret and every selected ServiceAccount lists it';
    }
    if (s === 'rival') return `lacks its own Secret: RegistryCredential ${(e.secret as { holder: string }).holder} holds ${e.secretName} here and keeps it`;
    if (s === 'unowned' || s === 'foreign') return `lacks the Secret: a Secret named ${e.secretName} that is not this credential's is in the way (SecretConflict) until it is removed`;
    if (e.failure) return `lacks the Secret: ${e.failure.reason}: ${e.failure.message}`;
    if (e.notReady) return `lacks the Secret: the credential is not ready (${e.notReady.reason}: ${e.notReady.message})`;
    return 'lacks the Secret: selected, not written yet (the operator has not reconciled this namespace)';
  }
  if (s === 'ours') {
    return e.deletionPolicy === 'Retain'
      ? 'keeps the Secret though not selected: deletionPolicy Retain leaves it'
      : 'still has the Secret though not selected: the operator removes it (deletionPolicy Delete)';
  }
  if (e.rule.rule === 'invalidSpec') return 'lacks the Secret: the spec is invalid';
  return s === 'absent' ? 'lacks the Secret: the namespace is not selected' : `not selected here; the Secret ${e.secretName} in place is not this credential's`;
}

export function explainNamespace(input: ExplainInput): Explanation {
  const rc = input.credential;
  const resolved = resolveSpec(rc.metadata.name, rc.spec);
  const spec = resolved.ok ? resolved.spec : undefined;
  const secretName = spec?.secretName ?? (typeof (rc.spec as { secretName?: unknown })?.secretName === 'string' ? rc.spec.secretName! : rc.metadata.name);
  const { selected, rule } = namespaceRule(input, spec, resolved.ok ? undefined : resolved.message);
  const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
  const failure = rc.status?.failures?.find((f) => f.namespace === input.namespaceName);
  const partial: Omit<Explanation, 'verdict'> = {
    credential: rc.metadata.name,
    namespace: input.namespaceName,
    secretName,
    ...(spec ? { deletionPolicy: spec.deletionPolicy } : {}),
    selected,
    rule,
    secret: secretState(input),
    serviceAccounts: !spec || !input.namespace ? [] : selected ? serviceAccountLines(spec, secretName, input.serviceAccounts) : listingTheSecret(secretName, input.serviceAccounts),
    ...(failure ? { failure } : {}),
    ...(ready && ready.status !== 'True' ? { notReady: { reason: ready.reason, message: ready.message } } : {}),
    deleting: !!rc.metadata.deletionTimestamp,
  };
  return { ...partial, verdict: verdict(partial) };
}

const SA_REASON: Record<ServiceAccountReason, string> = {
  name: 'named in spec.serviceAccounts.names',
  wildcard: 'every ServiceAccount ("*")',
  selector: 'matches spec.serviceAccounts.selector',
  optOut: `opts out with the label ${IGNORE_LABEL}=true`,
  terminating: 'being deleted',
  notSelected: 'neither named nor matching the selector',
  namespaceNotSelected: 'the namespace is not selected',
  missing: 'named in spec.serviceAccounts.names but does not exist',
};

/** The text `why` prints for one credential. */
export function renderExplanation(e: Explanation): string {
  const lines = [`RegistryCredential ${e.credential} (Secret ${e.secretName}${e.deleting ? ', being deleted' : ''}): ${e.verdict}`];
  lines.push(`  namespace ${e.namespace}: ${describeRule(e.rule)}`);
  if (e.rule.rule !== 'namespaceMissing') lines.push(`  ${describeSecret(e.secret, e.secretName)}`);
  if (e.failure) lines.push(`  status.failures: ${e.failure.reason}: ${e.failure.message}`);
  for (const sa of e.serviceAccounts) {
    const entry = sa.entry ? `lists ${e.secretName}${sa.addedByOperator ? ' (added by the operator)' : ' (not added by the operator)'}` : `does not list ${e.secretName}`;
    const state = sa.reason === 'missing' ? SA_REASON.missing : `${sa.selected ? 'selected' : 'not selected'} (${SA_REASON[sa.reason]}), ${entry}`;
    lines.push(`  ServiceAccount ${sa.name}: ${state}`);
  }
  return `${lines.join('\n')}\n`;
}
