// A tenant's labelled Secrets cannot grow the operator's memory by their data (reduced size; the
// full 10,000 Secrets run in `make chaos`: test/chaos/tenant-secrets.test.ts). The scenario and what
// is measured: test/support/tenant-secrets.ts. TENANT_NAMESPACES overrides the size here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '../support/heap.ts';
import { Scenario } from '../support/scenario.ts';
import { HEAP_BOUND_BYTES, TenantSecrets } from '../support/tenant-secrets.ts';

/** 200 namespaces × (1 Secret of the allowed name + 2 of other names) = 600 Secrets of 100 KiB. */
const NAMESPACES = Number(process.env.TENANT_NAMESPACES || 200);
const OTHER_PER_NAMESPACE = 2;

const s = new Scenario('tenant');
const tenant = new TenantSecrets(s, { namespaces: NAMESPACES, otherPerNamespace: OTHER_PER_NAMESPACE, seenTimeoutMs: 120_000, log: (line) => console.log(`tenant-secrets: ${line}`) });

beforeAll(() => tenant.setup(), 300_000);
afterAll(async () => {
  await s.teardown();
  // The control plane is shared with the files after this one: leave its namespace controller idle.
  await tenant.cleanup(true);
}, 300_000);

describe(`a tenant's labelled 100 KiB Secrets (${NAMESPACES} of the allowed name in unselected namespaces, ${NAMESPACES * OTHER_PER_NAMESPACE} of other names)`, () => {
  it(`change the operator's heap by less than ${HEAP_BOUND_BYTES / MiB} MiB, and none of them is touched`, async () => {
    const r = await tenant.run();
    // Soft: an operator that deletes the tenant's Secrets also keeps its heap small; both are reported.
    expect.soft(r.delta, `heap ${(r.baseline.usedSize / MiB).toFixed(1)} → ${(r.after.usedSize / MiB).toFixed(1)} MiB`).toBeLessThan(HEAP_BOUND_BYTES);
    expect.soft(r.changed.length, `tenant Secrets changed by the operator (first 20):\n${r.changed.slice(0, 20).join('\n')}`).toBe(0);
    expect.soft(r.statusProblems).toEqual([]);
    expect(s.operator!.exited).toBe(false);
  }, 300_000);
});
