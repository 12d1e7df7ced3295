// The one place that maps a watch event to the work it causes: a full pass of a RegistryCredential
// (written as its name) or the reconcile of one of its namespaces (written "name/namespace"; no
// name contains a slash). A change to a credential or one of its sources concerns every
// namespace; a change to a namespace, a ServiceAccount or a Secret in it concerns that namespace
// alone, so it costs O(1) per credential it concerns. Handlers only record work; the reconcile
// reads everything from the caches and never learns which event woke it. Credentials that share a
// secretName compete for the same Secrets, so whatever wakes one wakes all of them: arbitration
// between them must never wait for an unrelated event. Events are mapped with the selection rules
// without the credentials-namespace rule (selection.ts): for that one namespace a credential may be
// woken for nothing, never left asleep, and the reconcile applies the rule. A change of a
// credential's annotations (reconcile.regcred.dev/requestedAt among them) is a full pass.
import type { RegistryCredential } from '../api/schema.ts';
import type { ConfigMap, Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import { secretNameOf, type Caches } from './caches.ts';
import { heldBy, ourEntries } from './desired.ts';
import { namespaceRulesMatch } from './selection.ts';
import { referencedConfigMaps, referencedSecrets } from './sources.ts';

type Lookups = Pick<Caches, 'credentials' | 'specs' | 'namespaces' | 'managesIn'>;

/** The named credentials and every credential that shares a secretName with one of them. */
export function withRivals(c: Lookups, names: Iterable<string>, alsoSecretNames: Iterable<string> = []): Set<string> {
  const keys = new Set(names);
  const secretNames = new Set(alsoSecretNames);
  for (const name of keys) {
    const rc = c.credentials.get(undefined, name);
    if (rc) secretNames.add(secretNameOf(rc, c.specs));
  }
  if (secretNames.size === 0) return keys;
  for (const rc of c.credentials.list()) if (secretNames.has(secretNameOf(rc, c.specs))) keys.add(rc.metadata.name);
  return keys;
}

function matching(c: Lookups, test: (rc: RegistryCredential) => boolean): string[] {
  return c.credentials.list().filter(test).map((rc) => rc.metadata.name);
}

/** Work for one namespace of each credential. */
function inNamespace(credentials: Iterable<string>, namespace: string): Set<string> {
  return new Set([...credentials].map((name) => `${name}/${namespace}`));
}

/** Splits a work key into the credential and, for namespace work, the namespace. */
export function parseWorkKey(key: string): { credential: string; namespace?: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { credential: key } : { credential: key.slice(0, slash), namespace: key.slice(slash + 1) };
}

/**
 * Whether a RegistryCredential changed in a way a reconcile acts on: its spec (generation), its
 * deletion, finalizers, labels or annotations. A change of status alone is our own write; its watch
 * event can arrive before the write's response is recorded, so it is recognised by what changed.
 */
export function credentialChanged(rc: RegistryCredential, old: RegistryCredential | undefined): boolean {
  if (!old) return true;
  const a = rc.metadata;
  const b = old.metadata;
  return a.generation !== b.generation
    || a.deletionTimestamp !== b.deletionTimestamp
    || !sameJson(a.finalizers, b.finalizers)
    || !sameJson(a.labels, b.labels)
    || !sameJson(a.annotations, b.annotations);
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function keysForCredential(c: Lookups, rc: RegistryCredential, old: RegistryCredential | undefined): Set<string> {
  const secretNames = [rc, old].filter((o): o is RegistryCredential => !!o).map((o) => secretNameOf(o, c.specs));
  return withRivals(c, [rc.metadata.name], secretNames);
}

export function keysForNamespace(c: Lookups, ns: Namespace, old: Namespace | undefined): Set<string> {
  const name = ns.metadata.name;
  return inNamespace(withRivals(c, matching(c, (rc) => {
    const spec = c.specs.get(rc);
    if (!spec) return false;
    return namespaceRulesMatch(spec, ns) || (!!old && namespaceRulesMatch(spec, old)) || c.managesIn(name, rc.metadata.name);
  })), name);
}

export function keysForServiceAccount(c: Lookups, sa: ServiceAccount, old: ServiceAccount | undefined): Set<string> {
  const namespace = sa.metadata.namespace!;
  const ns = c.namespaces.get(undefined, namespace);
  // Entries our annotation records lead back to whoever may have to remove them.
  const annotated = new Set([...ourEntries(sa), ...(old ? ourEntries(old) : [])]);
  return inNamespace(matching(c, (rc) => {
    const spec = c.specs.get(rc);
    if (!spec) return false;
    return (!!ns && namespaceRulesMatch(spec, ns)) || c.managesIn(namespace, rc.metadata.name) || annotated.has(spec.secretName);
  }), namespace);
}

export function keysForSourceSecret(c: Lookups, secret: Secret): Set<string> {
  return withRivals(c, matching(c, (rc) => {
    const spec = c.specs.get(rc);
    return !!spec && referencedSecrets(spec.registries).has(secret.metadata.name);
  }));
}

/** A ConfigMap of the credentials namespace changed: the credentials that read a CA bundle from it. */
export function keysForConfigMap(c: Lookups, cm: ConfigMap): Set<string> {
  return new Set(matching(c, (rc) => {
    const spec = c.specs.get(rc);
    return !!spec && referencedConfigMaps(spec.registries).has(cm.metadata.name);
  }));
}

/**
 * A Secret of a name we may write changed: the credentials its labels name (before and after) and
 * every credential rendering to that name, in that namespace alone.
 */
export function keysForTargetSecret(c: Lookups, secret: Secret, old: Secret | undefined): Set<string> {
  const holders = [secret, old].flatMap((s) => (s ? [heldBy(s)].filter((n): n is string => !!n) : []));
  return inNamespace(withRivals(c, holders, [secret.metadata.name]), secret.metadata.namespace!);
}


/** Connects every cache's events to the queue. */
export function wireEventKeys(c: Caches, enqueue: (key: string) => void): void {
  const add = (keys: Set<string>) => {
    for (const k of keys) enqueue(k);
  };
  c.credentials.on((rc, old, deleted) => {
    if (deleted) c.specs.forget(rc);
    if (!deleted && !credentialChanged(rc, old)) return;
    add(keysForCredential(c, rc, old));
  });
  c.namespaces.on((ns, old) => add(keysForNamespace(c, ns, old)));
  c.serviceAccounts.on((sa, old) => add(keysForServiceAccount(c, sa, old)));
  c.sourceSecrets.on((secret) => add(keysForSourceSecret(c, secret)));
  c.configMaps.on((cm) => add(keysForConfigMap(c, cm)));
  c.targetSecrets.on((secret, old) => add(keysForTargetSecret(c, secret, old)));
}
