import { describe, expect, it } from "vitest";
import { listAudit } from "../../src/audit/list.js";
import type { StoredAuditEntry } from "../../src/audit/entry.js";
import { DEFAULT_MAPPING } from "../../src/mapping/mapping.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import type { RunReport } from "../../src/runs/report.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const stackOf = useLocalStack({ simulator: { pageSize: 9 } });

async function run(stack: LocalStack, tenantId: string, mode: "full" | "incremental" = "full"): Promise<RunReport> {
  const r = await createRun(stack.app, { tenantId, trigger: "manual", mode, dryRun: false, only: ["update"] });
  return (await executeRun(stack.app, tenantId, r.runId)).report;
}

/** Every audit entry of a listing, page after page (small pages, so continuation is exercised). */
async function all(stack: LocalStack, q: { tenantId: string; runId?: string; userId?: string; since?: string }): Promise<StoredAuditEntry[]> {
  const out: StoredAuditEntry[] = [];
  let continuation: string | undefined;
  do {
    const page = await listAudit(stack.app, { ...q, limit: 7, continuation });
    out.push(...page.entries);
    continuation = page.continuation;
  } while (continuation);
  return out;
}

describe("audit log of update sync", () => {
  it("holds exactly the changes a full run's report counts, old → new, with sensitive values masked", async () => {
    const stack = stackOf();
    const d = simpleDirectory(40);
    const ssnUsers = new Set([0, 1, 2]);
    d.users.forEach((u, i) => {
      if (ssnUsers.has(i)) u.onPremisesExtensionAttributes = { extensionAttribute1: `2010010${i}-1234` };
    });
    // 25 platform users have an old city; three of those and two more get a social security number from Entra.
    const platformUsers = d.platformUsers.map((p, i) => (i < 25 ? { ...p, city: "Malmö" } : p));
    const { tenant } = await onboard(stack, { users: d.users, platformUsers, registration: { mapping: { ...DEFAULT_MAPPING, ssn: ["extensionAttribute1"] } } });

    const report = await run(stack, tenant.tenantId);
    expect(report.status).toBe("succeeded");
    const entries = await all(stack, { tenantId: tenant.tenantId, runId: report.runId });
    const applied = entries.filter((e) => e.outcome === "applied");
    // One entry per updated user, nothing else; failed ones (none here) would match update.failed.
    expect(report.update.updated).toBeGreaterThanOrEqual(25);
    expect(applied).toHaveLength(report.update.updated);
    expect(entries.filter((e) => e.outcome === "failed")).toHaveLength(report.update.failed);
    expect(new Set(applied.map((e) => e.userId)).size).toBe(applied.length);
    // Each change is what happened: old as seeded, new as stored now.
    const now = new Map<string, Record<string, unknown>>();
    for await (const u of stack.app.directory.list(tenant.tenantId)) now.set(u.id, u as unknown as Record<string, unknown>);
    for (const e of applied) {
      expect(e).toMatchObject({ tenantId: tenant.tenantId, runId: report.runId, source: "updateSync", target: "platform" });
      const i = Number(e.userId.slice(2));
      expect(e.entraId).toBe(d.users[i]!.id);
      const before = platformUsers[i] as unknown as Record<string, unknown>;
      for (const c of e.changes) {
        if (c.attribute === "ssn") continue;
        expect(c.old).toBe(before[c.attribute] ?? null);
        expect(c.new).toBe(now.get(e.userId)![c.attribute] ?? null);
      }
      if (i < 25) expect(e.changes).toContainEqual({ attribute: "city", old: "Malmö", new: "Lund" });
      else expect(e.changes.map((c) => c.attribute)).not.toContain("city");
      if (ssnUsers.has(i)) expect(e.changes).toContainEqual({ attribute: "ssn", old: null, new: "[masked]" });
      else expect(e.changes.map((c) => c.attribute)).not.toContain("ssn");
    }
    expect(applied.map((e) => Number(e.userId.slice(2))).filter((i) => i < 25)).toHaveLength(25);
    // No social security number is stored anywhere in the log.
    const raw: string[] = [];
    for await (const r of stack.app.tables.platformUsers.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${tenant.tenantId}' and RowKey lt '!'` } })) raw.push(JSON.stringify(r));
    expect(raw).toHaveLength(report.update.updated);
    expect(raw.join("\n")).not.toMatch(/2010010\d-1234/);

    // An incremental run: only its own changes, listable by user.
    stack.sim.control.updateUser(tenant.tenantId, d.users[30]!.id, { city: "Umeå" });
    const second = await run(stack, tenant.tenantId, "incremental");
    expect(second.update.updated).toBe(1);
    const mine = await all(stack, { tenantId: tenant.tenantId, runId: second.runId });
    expect(mine.map((e) => [e.userId, e.changes])).toEqual([["p-30", [{ attribute: "city", old: "Lund", new: "Umeå" }]]]);
    const byUser = await all(stack, { tenantId: tenant.tenantId, userId: "p-30" });
    expect(byUser.map((e) => e.runId)).toEqual([second.runId, ...applied.filter((e) => e.userId === "p-30").map((e) => e.runId)]);
    expect(byUser.every((e) => e.userId === "p-30")).toBe(true);
    const byEntraId = await all(stack, { tenantId: tenant.tenantId, userId: d.users[30]!.id });
    expect(byEntraId.map((e) => e.id)).toEqual(byUser.map((e) => e.id));
    // Newest first: the incremental run's entry leads the tenant's whole log.
    const whole = await all(stack, { tenantId: tenant.tenantId });
    expect(whole).toHaveLength(applied.length + 1);
    expect(whole[0]!.runId).toBe(second.runId);
    // A rerun changes nothing and records nothing.
    const third = await run(stack, tenant.tenantId);
    expect(third.update.updated).toBe(0);
    expect(await all(stack, { tenantId: tenant.tenantId, runId: third.runId })).toEqual([]);
  });

  it("keeps the index repair away from audit entries and prunes entries past retention", async () => {
    const stack = stackOf();
    const d = simpleDirectory(5);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Malmö" })) });
    const report = await run(stack, tenant.tenantId);
    expect(report.update.indexRepaired ?? 0).toBe(0);
    const again = await run(stack, tenant.tenantId);
    expect(again.update.indexRepaired ?? 0).toBe(0);
    expect(await all(stack, { tenantId: tenant.tenantId })).toHaveLength(5);
    expect(await stack.app.audit.prune(tenant.tenantId, new Date(Date.now() - 60_000))).toBe(0);
    // The scheduler's pruning: a day before the retention ends nothing goes, a day after it everything.
    const days = stack.app.settings.audit.retentionDays;
    const at = (d: number) => Object.assign(Object.create(stack.app) as typeof stack.app, { clock: () => new Date(Date.now() + d * 86_400_000) });
    await scheduleDueRuns(at(days - 1), { pruneSlices: 1 });
    expect(await all(stack, { tenantId: tenant.tenantId })).toHaveLength(5);
    await scheduleDueRuns(at(days + 1), { pruneSlices: 1 });
    expect(await all(stack, { tenantId: tenant.tenantId })).toEqual([]);
    // The users and their index are untouched.
    const users = [];
    for await (const u of stack.app.directory.list(tenant.tenantId)) users.push(u);
    expect(users).toHaveLength(5);
  });

  it("refuses bad listing input naming the field", async () => {
    const stack = stackOf();
    const t = "6f0b2c1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b";
    for (const [q, field] of [
      [{ tenantId: "nope" }, "tenant"],
      [{ tenantId: t, since: "yesterday" }, "since"],
      [{ tenantId: t, runId: "123" }, "run"],
      [{ tenantId: t, limit: "0" }, "limit"],
      [{ tenantId: t, limit: "5000" }, "limit"],
      [{ tenantId: t, continuation: "x" }, "continuation"],
    ] as const) {
      const e = await listAudit(stack.app, q).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: "INPUT_INVALID", field });
    }
  });
});
