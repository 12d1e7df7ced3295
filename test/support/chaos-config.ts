// The chaos suite's sizes, from the environment: `make chaos` sets the full values, `make test-chaos`
// reduced ones. Every scenario scales from these and nothing else.
function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

export const CHAOS = {
  /** SIGKILL rounds (each: fan-out, rotation and cleanup, one kill in each). */
  rounds: positive('CHAOS_ROUNDS', 20),
  /** Namespaces of a fan-out (SIGKILL and control-plane restarts). */
  namespaces: positive('CHAOS_NAMESPACES', 500),
  /** Operations per concurrent ServiceAccount editor. */
  edits: positive('CHAOS_EDITS', 1000),
  /** Generated RegistryCredentials (with their source Secrets) sent through the API server. */
  hostile: positive('CHAOS_HOSTILE', 1000),
  /** RegistryCredentials deleted at once in the mass-deletion scenario. */
  mass: positive('CHAOS_MASS', 30),
  /** A tenant's labelled 100 KiB Secrets (test/chaos/tenant-secrets.test.ts), rounded up to a multiple of 4. */
  tenant: positive('CHAOS_TENANT', 10_000),
};

/** Control-plane restarts per kind (kube-apiserver, etcd): one per five SIGKILL rounds, at least one. */
export const restartRounds = () => Math.max(1, Math.ceil(CHAOS.rounds / 5));
