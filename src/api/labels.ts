// Names the operator writes onto objects. Changing one is a breaking change for running clusters.
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'regcred-operator';
/** On every Secret we manage: the RegistryCredential it belongs to. */
export const CREDENTIAL_LABEL = 'regcred.dev/credential';
/**
 * On every Secret we manage: the digest of the rendered config (an HMAC under the installation's
 * key, never a plain hash of the bytes), for people and for drift checks.
 */
export const HASH_ANNOTATION = 'regcred.dev/credential-hash';
/**
 * On ServiceAccounts we patched: the imagePullSecrets entries we added (comma-separated), so that
 * we only ever remove our own entries and never one a person or another tool put there.
 */
export const SA_ENTRIES_ANNOTATION = 'regcred.dev/managed-pull-secrets';
/** `regcred.dev/ignore=true` on a Namespace or ServiceAccount opts it out of every RegistryCredential. */
/**
 * On a Secret we manage under deletionPolicy Retain: the UID of the RegistryCredential that holds
 * it. Under Delete the controller ownerReference says the same; under Retain an ownerReference
 * would let the garbage collector take a Secret the policy keeps.
 */
export const OWNER_UID_ANNOTATION = 'regcred.dev/owner-uid';
/** Changing its value (any value, e.g. a timestamp) asks for the credentials to be checked again now. */
export const VALIDATE_REQUESTED_ANNOTATION = 'regcred.dev/validate-requested-at';
/**
 * On a RegistryCredential: a new value (an RFC 3339 time) asks for a reconcile now; the operator
 * echoes the value it handled in status.lastHandledReconcileAt.
 */
export const RECONCILE_REQUESTED_ANNOTATION = 'reconcile.regcred.dev/requestedAt';
export const IGNORE_LABEL = 'regcred.dev/ignore';
export const FINALIZER = 'regcred.dev/cleanup';
/**
 * On the digest key Secret in the operator's namespace. Not the managed-by label: the managed cache
 * takes every Secret with that one for a rendered pull secret.
 */
export const NAME_LABEL = 'app.kubernetes.io/name';
export const NAME_VALUE = 'regcred-operator';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const DIGEST_KEY_COMPONENT = 'digest-key';
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
export const UNMANAGED_SELECTOR = `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`;
/**
 * On a Secret of the credentials namespace: `regcred.dev/source=true` makes it a source that
 * RegistryCredentials may read. A Secret without it is never read.
 */
export const SOURCE_LABEL = 'regcred.dev/source';
export const SOURCE_LABEL_VALUE = 'true';
/**
 * On a source Secret, optional: the RegistryCredentials (comma-separated names) that may read it.
 * Without it every RegistryCredential may.
 */
export const ALLOWED_CREDENTIALS_ANNOTATION = 'regcred.dev/allowed-credentials';
