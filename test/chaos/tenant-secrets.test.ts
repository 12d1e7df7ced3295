// A tenant's labelled Secrets cannot grow the operator's memory by their data: CHAOS_TENANT (10,000
// in `make chaos`) random 100 KiB Secrets labelled as the operator's and as one RegistryCredential's,
// a quarter of them named the allowed name (one per namespace, none selected: the worst case, as the
// operator watches that name cluster-wide), the rest under other names, change the operator's V8
// heap (after forced GCs, read over the inspector) by less than 20 MiB, and the operator changes or
// deletes none of them. The scenario: test/support/tenant-secrets.ts (its reduced size runs in the
// integration suite). The invariant checker is not used here: it lists every labelled Secret with
// its data (over 1 GB at full size); the scenario checks the tenant's Secrets by metadata instead,
// and that the credential still serves its namespaces and reports the conflict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAOS } from '../support/chaos-config.ts';
import { ChaosEnv } from '../support/chaos-env.ts';
import { MiB } from '../support/heap.ts';
import { HEAP_BOUND_BYTES, TenantSecrets } from '../support/tenant-secrets.ts';

/** Per tenant namespace: one Secret of the allowed name and three of other names. */
const OTHER_PER_NAMESPACE = 3;
const NAMESPACES = Math.ceil(CHAOS.tenant / (1 + OTHER_PER_NAMESPACE));

let env: ChaosEnv;
let tenant: TenantSecrets;

beforeAll(async () => {
  env = await ChaosEnv.start('tenant-secrets', 'ts');
  tenant = new TenantSecrets(env.s, { namespaces: NAMESPACES, otherPerNamespace: OTHER_PER_NAMESPACE, seenTimeoutMs: 600_000, log: (line) => env.report.note(line) });
  await tenant.setup();
}, 900_000);

// No namespace deletion: the control plane is this file's alone and goes with everything in it.
afterAll(async () => {
  await env?.stop();
}, 120_000);

describe(`a tenant's ${NAMESPACES * (1 + OTHER_PER_NAMESPACE)} labelled 100 KiB Secrets (${NAMESPACES} of the allowed name in unselected namespaces)`, () => {
  it(`change the operator's heap by less than ${HEAP_BOUND_BYTES / MiB} MiB, and none of them is touched`, async () => {
    env.report.round();
    env.report.fault(`${NAMESPACES * (1 + OTHER_PER_NAMESPACE)} labelled tenant Secrets of 100 KiB`);
    const r = await tenant.run();
    const heap = r.delta < HEAP_BOUND_BYTES ? [] : [`heap grew by ${(r.delta / MiB).toFixed(2)} MiB (${(r.baseline.usedSize / MiB).toFixed(1)} → ${(r.after.usedSize / MiB).toFixed(1)} MiB), bound ${HEAP_BOUND_BYTES / MiB} MiB`];
    const violations = [
      ...env.report.violations('operator heap', heap),
      ...env.report.violations('tenant Secrets', r.changed),
      ...env.report.violations('credential status', r.statusProblems),
      ...env.report.violations('operator', env.s.operator!.exited ? ['the operator exited'] : []),
    ];
    expect(violations).toEqual([]);
  }, 1_200_000);
});
