// Which namespaces and ServiceAccounts a RegistryCredential selects. Pure functions.
import type { LabelSelector, ResolvedSpec } from '../api/schema.ts';
import { IGNORE_LABEL } from '../api/labels.ts';
import { isTerminating, type Namespace, type ServiceAccount } from '../kube/objects.ts';

export function matchesLabelSelector(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(labels[req.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[req.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

const globCache = new Map<string, RegExp>();

/** Shell-style glob: `*` any run of characters, `?` one character; everything else literal. */
export function globMatch(pattern: string, name: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`);
    globCache.set(pattern, re);
  }
  return re.test(name);
}

const optedOut = (labels: Record<string, string> | undefined) => labels?.[IGNORE_LABEL] === 'true';

/**
 * Selection rules alone, whatever the namespace's phase: used to map events to credentials. The
 * credentials namespace holds the source Secrets, so it is selected only when `include` names it
 * exactly: a broad glob (or no include at all) never puts rendered Secrets beside the sources.
 * Without `credentialsNamespace` that rule is left out (callers that never see that namespace).
 */
export function namespaceRulesMatch(spec: ResolvedSpec, ns: Namespace, credentialsNamespace?: string): boolean {
  const name = ns.metadata.name;
  const rules = spec.namespaces;
  if (optedOut(ns.metadata.labels)) return false;
  if (name === credentialsNamespace && !rules.include?.includes(name)) return false;
  if (rules.exclude.some((g) => globMatch(g, name))) return false;
  if (rules.include && !rules.include.some((g) => globMatch(g, name))) return false;
  return matchesLabelSelector(rules.selector, ns.metadata.labels);
}

/** A namespace receives the Secret when the rules match and it is not being deleted. */
export function namespaceSelected(spec: ResolvedSpec, ns: Namespace, credentialsNamespace?: string): boolean {
  return !isTerminating(ns) && namespaceRulesMatch(spec, ns, credentialsNamespace);
}

export function serviceAccountSelected(spec: ResolvedSpec, sa: ServiceAccount): boolean {
  if (optedOut(sa.metadata.labels) || sa.metadata.deletionTimestamp) return false;
  const { names, selector } = spec.serviceAccounts;
  if (names.includes('*') || names.includes(sa.metadata.name)) return true;
  return selector !== undefined && matchesLabelSelector(selector, sa.metadata.labels);
}
