import { describe, expect, it } from "vitest";
import { readTenantStates } from "../../src/state/tenant-state.js";
import type { RunReport } from "../../src/runs/report.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
const A = "33333333-3333-4333-8333-333333333333";
const B = "44444444-4444-4444-8444-444444444444";

describe("readTenantStates on Table Storage", () => {
  it("reads what each store wrote, in one query for every tenant or one partition for one, only the kinds asked for", async () => {
    const app = stackOf().app;
    const claim = await app.leases.claim(A, "8246183918321-1a2b3c4d");
    expect(claim.ok).toBe(true);
    await app.health.recordRun({ tenantId: A, runId: "8246183918321-1a2b3c4d", status: "failed", trigger: "manual", only: ["update"], dryRun: false, endedAt: "2026-01-01T00:00:00.000Z", failure: { code: "STORAGE_FAILED", class: "transient", message: "m", action: "a" } } as unknown as RunReport);
    await app.secretFacts.update(A, () => ({ source: "keyVault", version: "v1", expiresOn: "2026-06-30T00:00:00.000Z", checkedAt: "2026-01-01T00:00:00.000Z" }));
    await app.checkpoints.save(A, { link: "https://graph.example/delta?$deltatoken=a", kind: "delta", runId: "8246183918321-1a2b3c4d", round: "incremental", roundStartedAt: "2026-01-01T00:00:00.000Z", savedAt: "2026-01-01T00:00:00.000Z" });
    await app.leases.setNextRunAt(B, "2026-02-01T00:00:00.000Z");

    const all = await readTenantStates(app.tables.tenantState, { rows: ["lease", "health", "secret", "checkpoint"] });
    const a = all.get(A)!;
    expect(a.lease).toEqual(await app.leases.get(A));
    expect(a.health).toEqual(await app.health.get(A));
    expect(a.health?.consecutiveFailures).toBe(1);
    expect(a.secret).toEqual(await app.secretFacts.get(A));
    expect(a.checkpoint).toEqual(await app.checkpoints.get(A));
    expect(all.get(B)?.lease?.nextRunAt).toBe("2026-02-01T00:00:00.000Z");

    const one = await readTenantStates(app.tables.tenantState, { tenantId: B });
    expect([...one.keys()]).toEqual([B]);
    const byDefault = await readTenantStates(app.tables.tenantState, { tenantId: A });
    expect(Object.keys(byDefault.get(A)!).sort()).toEqual(["health", "lease", "secret"]);
  });
});
