import { describe, expect, it } from "vitest";
import { createRun, executeRun } from "../../src/runs/execute.js";
import type { RunReport } from "../../src/runs/report.js";
import { memoryLogger } from "../../src/log.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const stackOf = useLocalStack({ simulator: { pageSize: 7 } });

async function run(stack: LocalStack, tenantId: string, o: { mode?: "full" | "incremental"; dryRun?: boolean } = {}): Promise<RunReport> {
  const r = await createRun(stack.app, { tenantId, trigger: "manual", mode: o.mode ?? "incremental", dryRun: o.dryRun ?? false, only: ["update"] });
  return (await executeRun(stack.app, tenantId, r.runId)).report;
}

async function platformUsers(stack: LocalStack, tenantId: string) {
  const out = [];
  for await (const u of stack.app.directory.list(tenantId)) out.push(u);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

describe("update sync against the simulator", () => {
  it("pages through a full read, then an incremental round sees only the changes (absent = unchanged, null = cleared)", async () => {
    const stack = stackOf();
    const d = simpleDirectory(30);
    // platform users start out of date: a different city
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Malmö" })) });
    const first = await run(stack, tenant.tenantId);
    expect(first.status).toBe("succeeded");
    expect(first.progress.pages).toBe(Math.ceil(30 / 7));
    expect(first.update).toMatchObject({ read: 30, matched: 30, updated: 30, unmatched: 0, removed: 0, failed: 0 });
    expect((await platformUsers(stack, tenant.tenantId)).every((u) => u.city === "Lund")).toBe(true);

    const u0 = d.users[0]!;
    const u1 = d.users[1]!;
    stack.sim.control.updateUser(tenant.tenantId, u0.id, { city: null });
    stack.sim.control.updateUser(tenant.tenantId, u1.id, { mobilePhone: "+46701112233" });
    stack.sim.control.resetStats();
    const second = await run(stack, tenant.tenantId);
    expect(second.update).toMatchObject({ read: 2, matched: 2, updated: 2, unchanged: 0 });
    expect(stack.sim.control.stats().byRoute["GET /v1.0/users/delta"]).toBe(1);
    const after = await platformUsers(stack, tenant.tenantId);
    const p0 = after.find((u) => u.externalId === u0.id)!;
    const p1 = after.find((u) => u.externalId === u1.id)!;
    expect(p0.city).toBeUndefined(); // cleared
    expect(p0.firstName).toBe("Given0"); // absent in the minimal entry: kept
    expect(p1.mobilePhone).toBe("+46701112233");
    expect(p1.city).toBe("Lund");

    const third = await run(stack, tenant.tenantId);
    expect(third.update.read).toBe(0);
  });

  it("counts and marks removed users (soft and hard delete) and never deletes a platform user", async () => {
    const stack = stackOf();
    const d = simpleDirectory(10);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    await run(stack, tenant.tenantId);
    stack.sim.control.softDeleteUser(tenant.tenantId, d.users[2]!.id);
    stack.sim.control.hardDeleteUser(tenant.tenantId, d.users[3]!.id);
    const r = await run(stack, tenant.tenantId);
    expect(r.update.removed).toBe(2);
    const users = await platformUsers(stack, tenant.tenantId);
    expect(users).toHaveLength(10);
    expect(users.find((u) => u.externalId === d.users[2]!.id)?.entraRemovedReason).toBe("changed");
    expect(users.find((u) => u.externalId === d.users[3]!.id)?.entraRemovedReason).toBe("deleted");
    // restored: the mark is cleared
    stack.sim.control.restoreUser(tenant.tenantId, d.users[2]!.id);
    await run(stack, tenant.tenantId);
    const again = await platformUsers(stack, tenant.tenantId);
    expect(again.find((u) => u.externalId === d.users[2]!.id)?.entraRemovedReason).toBeUndefined();
  });

  it("processes duplicates and empty pages idempotently", async () => {
    const stack = stackOf();
    const d = simpleDirectory(25);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Kiruna" })) });
    stack.sim.control.setDuplicateRate(0.5);
    stack.sim.control.setEmptyPageRate(0.3);
    try {
      const r = await run(stack, tenant.tenantId);
      expect(r.status).toBe("succeeded");
      expect(r.update.failed).toBe(0);
      const users = await platformUsers(stack, tenant.tenantId);
      expect(users).toHaveLength(25);
      expect(users.every((u) => u.city === "Lund")).toBe(true);
    } finally {
      stack.sim.control.setDuplicateRate(0);
      stack.sim.control.setEmptyPageRate(0);
    }
  });

  it.each(["syncStateNotFound", "gone"] as const)("turns an expired delta token (%s) into a full resync, reported", async (how) => {
    const stack = stackOf();
    const d = simpleDirectory(9);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    await run(stack, tenant.tenantId);
    stack.sim.control.updateUser(tenant.tenantId, d.users[0]!.id, { surname: "Changed" });
    stack.sim.control.expireDeltaTokens(tenant.tenantId, how);
    const r = await run(stack, tenant.tenantId);
    expect(r.status).toBe("succeeded");
    expect(r.progress.round).toBe("initial");
    expect(r.update.read).toBe(9);
    expect(r.errors.map((e) => e.code)).toContain("GRAPH_DELTA_EXPIRED");
    expect(r.notices.join(" ")).toMatch(/full resync/);
    const users = await platformUsers(stack, tenant.tenantId);
    expect(users.find((u) => u.externalId === d.users[0]!.id)?.lastName).toBe("Changed");
  });

  it("resumes from the last checkpoint after a failure mid-run; re-running a page is harmless", async () => {
    const stack = stackOf();
    const d = simpleDirectory(30);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Umeå" })) });
    // the third page fails with a non-retryable error
    stack.sim.control.injectFault({ method: "GET", path: "skiptoken", tenantId: tenant.tenantId, status: 400, body: { error: { code: "BadRequest", message: "injected" } }, count: 1 });
    stack.sim.control.resetStats();
    const failed = await run(stack, tenant.tenantId);
    expect(failed.status).toBe("failed");
    expect(failed.update.read).toBeGreaterThan(0);
    expect(failed.update.read).toBeLessThan(30);
    const cp = await stack.app.checkpoints.get(tenant.tenantId);
    expect(cp?.kind).toBe("next");
    const resumed = await run(stack, tenant.tenantId);
    expect(resumed.status).toBe("succeeded");
    expect(failed.update.read + resumed.update.read).toBe(30); // no page read twice, none lost
    const users = await platformUsers(stack, tenant.tenantId);
    expect(users.every((u) => u.city === "Lund")).toBe(true);
    expect((await stack.app.checkpoints.get(tenant.tenantId))?.kind).toBe("delta");
  });

  it("pipelines pages: page n is written while page n+1 is read and matched, one page written at a time, each checkpoint after its page", async () => {
    const stack = stackOf();
    const d = simpleDirectory(28);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    await run(stack, tenant.tenantId);
    // The write path's own pipeline: with the mass-change guard on, the pages it kept were read and matched before the
    // first write (src/sync/guard.ts), so there is nothing left to overlap.
    await stack.app.tenants.update(tenant.tenantId, { guard: { enabled: false } });
    for (const u of d.users) stack.sim.control.updateUser(tenant.tenantId, u.id, { city: "Visby" });
    // Our own adapters, wrapped to log when each page's platform writes start and end, when the next page's connector
    // rows are read and when checkpoints are saved; writes are slowed so that an overlap cannot be missed.
    const events: string[] = [];
    const dir = stack.app.directory;
    const con = stack.app.connector;
    const cps = stack.app.checkpoints;
    const [apply, getMany, save] = [dir.applyUpdates.bind(dir), con.getMany.bind(con), cps.save.bind(cps)];
    let page = 0;
    dir.applyUpdates = async (t, updates) => {
      const n = ++page;
      events.push(`write ${n}`);
      await new Promise((r) => setTimeout(r, 400));
      const out = await apply(t, updates);
      events.push(`written ${n}`);
      return out;
    };
    con.getMany = async (t, ids) => {
      const rows = await getMany(t, ids);
      events.push("read"); // when the rows have come back
      return rows;
    };
    cps.save = async (...a: Parameters<typeof save>) => {
      events.push("checkpoint");
      return save(...a);
    };
    try {
      const r = await run(stack, tenant.tenantId);
      expect(r.update).toMatchObject({ read: 28, updated: 28, failed: 0 });
      expect(r.progress.pages).toBe(4);
    } finally {
      Object.assign(dir, { applyUpdates: apply });
      Object.assign(con, { getMany });
      Object.assign(cps, { save });
    }
    expect((await platformUsers(stack, tenant.tenantId)).every((u) => u.city === "Visby")).toBe(true);
    // The next page's rows were read while a page was being written…
    const overlapped = events.some((e, i) => e === "read" && events.slice(0, i).filter((x) => x.startsWith("write ")).length > events.slice(0, i).filter((x) => x.startsWith("written ")).length);
    expect(overlapped).toBe(true);
    // …but writes never overlap each other, and each page's checkpoint follows its writes.
    const writes = events.filter((e) => e !== "read");
    expect(writes).toEqual(["write 1", "written 1", "checkpoint", "write 2", "written 2", "checkpoint", "write 3", "written 3", "checkpoint", "write 4", "written 4", "checkpoint"]);
  });

  it("honours Retry-After on a 429 and reports the throttling", async () => {
    const stack = stackOf();
    const d = simpleDirectory(8);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    stack.sim.control.injectFault({ method: "GET", path: "/v1.0/users/delta", tenantId: tenant.tenantId, status: 429, headers: { "Retry-After": "1" }, body: { error: { code: "TooManyRequests", message: "Too many requests" } }, count: 2 });
    stack.sim.control.resetStats();
    const t0 = Date.now();
    const r = await run(stack, tenant.tenantId);
    expect(r.status).toBe("succeeded");
    expect(r.graph.throttled).toBe(2);
    expect(r.graph.retried).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900); // waited 1 s twice, as asked
    const log = stack.sim.control.requestLog().filter((l) => l.path.includes("/users/delta"));
    expect(log.slice(0, 3).map((l) => l.status)).toEqual([429, 429, 200]);
  });

  it.each([
    ["wrong secret", "AUTH_SECRET_INVALID", /secret's ID was stored instead of its Value[\s\S]*entra-sync secret set --tenant/],
    ["expired secret", "AUTH_SECRET_EXPIRED", /expired \(AADSTS7000222\)[\s\S]*entra-sync secret set --tenant/],
  ])("a %s fails the run with a cause and a fix, and no secret anywhere", async (kind, code, advice) => {
    const log = memoryLogger();
    const stack = stackOf();
    const d = simpleDirectory(3);
    const { tenant, clientSecret } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers, secretDays: kind === "expired secret" ? 1 : 365 });
    const app = { ...stack.app, log };
    let bad = clientSecret;
    if (kind === "wrong secret") {
      bad = "Xq8~" + clientSecret.slice(4, 30) + "wrongValue";
      await app.secrets.set(tenant.tenantId, bad, new Date(Date.now() + 86_400_000 * 30), tenant.clientId);
    } else stack.sim.control.advanceClock(2 * 86_400_000);
    try {
      const r = await run({ ...stack, app }, tenant.tenantId);
      expect(r.status).toBe("failed");
      expect(r.failure?.code).toBe(code);
      expect(r.failure?.message).toMatch(advice);
      const everything = JSON.stringify(r) + log.lines.join("\n") + JSON.stringify(await stack.app.runs.list(tenant.tenantId, 5));
      expect(everything).not.toContain(clientSecret);
      expect(everything).not.toContain(bad);
    } finally {
      if (kind === "expired secret") stack.sim.control.advanceClock(-2 * 86_400_000);
    }
  });

  it("refuses a nextLink to another host and never sends the token there", async () => {
    const stack = stackOf();
    const d = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    const foreign = stack.sim.baseUrl.replace("127.0.0.1", "localhost") + "/v1.0/users/delta?$skiptoken=stolen";
    stack.sim.control.injectFault({ method: "GET", path: "/v1.0/users/delta", tenantId: tenant.tenantId, status: 200, body: { "@odata.context": "x", value: [], "@odata.nextLink": foreign }, count: 1 });
    stack.sim.control.resetStats();
    const r = await run(stack, tenant.tenantId);
    expect(r.status).toBe("failed");
    expect(r.failure?.code).toBe("GRAPH_FOREIGN_LINK");
    expect(stack.sim.control.requestLog().filter((l) => l.host.startsWith("localhost"))).toEqual([]);
    expect(await stack.app.checkpoints.get(tenant.tenantId)).toBeUndefined(); // the bad link was never saved
  });

  it("a dry run writes nothing and leaves the checkpoint where it was", async () => {
    const stack = stackOf();
    const d = simpleDirectory(5);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Visby" })) });
    const r = await run(stack, tenant.tenantId, { dryRun: true });
    expect(r.update.updated).toBe(5);
    const after = await platformUsers(stack, tenant.tenantId);
    expect(after).toHaveLength(5);
    expect(after.every((u) => u.city === "Visby")).toBe(true);
    expect(await stack.app.checkpoints.get(tenant.tenantId)).toBeUndefined();
    const real = await run(stack, tenant.tenantId);
    expect(real.update.updated).toBe(5);
  });

  it("links a platform user without externalId by the configured key, and skips ambiguous ones", async () => {
    const stack = stackOf();
    const d = simpleDirectory(4);
    const platform = d.platformUsers.map((p) => ({ ...p }));
    delete platform[0]!.externalId; // linkable by UPN ↔ userName, case-insensitive
    platform[0]!.userName = platform[0]!.userName!.toUpperCase();
    delete platform[1]!.externalId; // two candidates → ambiguous
    platform.push({ id: "p-dup", tenantId: "x", userName: d.users[1]!.userPrincipalName });
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: platform, registration: { linking: { entra: "userPrincipalName", platform: "userName" } } });
    const r = await run(stack, tenant.tenantId);
    expect(r.update).toMatchObject({ matched: 3, ambiguous: 1, unmatched: 0 });
    const users = await platformUsers(stack, tenant.tenantId);
    expect(users.find((u) => u.id === "p-0")?.externalId).toBe(d.users[0]!.id);
    expect(users.find((u) => u.id === "p-1")?.externalId).toBeUndefined();
    expect(r.errors.find((e) => e.code === "MATCH_AMBIGUOUS")?.users).toEqual([d.users[1]!.id]);
  });
});
