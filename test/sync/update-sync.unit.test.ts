import { describe, expect, it } from "vitest";
import { newReport, type RunReport } from "../../src/runs/report.js";
import { runUpdateSync, type UpdateSyncOptions } from "../../src/sync/update-sync.js";
import type { PlatformUser } from "../../src/directory/types.js";
import type { Tenant } from "../../src/tenants/model.js";
import { MemoryCheckpoints, MemoryConnectorSpace, MemoryDirectory, MemoryTenantGraph, memoryTenant, type MemUser } from "../support/memory.js";

/** Update sync's logic on in-memory adapters: no network, no storage. */

const T = memoryTenant().tenantId;
const entra = (i: number, extra: Partial<MemUser> = {}): MemUser => ({ id: `e-${i}`, userPrincipalName: `user${i}@school.se`, givenName: `Given${i}`, surname: `Sur${i}`, mail: `user${i}@school.se`, ...extra });
const platform = (i: number, extra: Partial<PlatformUser> = {}): PlatformUser => ({ id: `p-${i}`, tenantId: T, externalId: `e-${i}`, ...extra });

let runs = 0;
function world(o: { entra: MemUser[]; platform: PlatformUser[]; tenant?: Partial<Tenant> }) {
  const graph = new MemoryTenantGraph(o.entra);
  const directory = new MemoryDirectory(o.platform);
  const connector = new MemoryConnectorSpace();
  const checkpoints = new MemoryCheckpoints();
  const tenant = memoryTenant(o.tenant);
  const deps = { connector, directory, checkpoints, log: { info() {}, warn() {}, error() {} }, clock: () => new Date("2026-11-30T12:00:00Z") };
  const sync = async (x: Partial<Omit<UpdateSyncOptions, "graph">> & { report?: RunReport } = {}) => {
    const report = x.report ?? newReport({ runId: `run-${++runs}`, tenantId: T, tenantName: tenant.displayName, trigger: "manual", mode: x.full ? "full" : "incremental", dryRun: x.dryRun ?? false, only: ["update"], now: new Date() });
    const outcome = await runUpdateSync(deps, tenant, report, { graph, full: false, dryRun: false, ...x });
    return { report, outcome };
  };
  return { graph, directory, connector, checkpoints, tenant, sync };
}

describe("update sync (unit, in memory)", () => {
  it("matches by externalId, maps the attributes, counts unmatched and ambiguous users, and ends on a deltaLink", async () => {
    const w = world({
      entra: [entra(1), entra(2), entra(3), entra(4)],
      platform: [platform(1), platform(2, { firstName: "Given2", lastName: "Sur2", userName: "user2@school.se", email: "user2@school.se", idpIdentifier: "user2@school.se", eppn: "user2@school.se" }), platform(4), platform(5, { externalId: "e-4" })],
    });
    const { report, outcome } = await w.sync({ full: true });
    expect(outcome.completed).toBe(true);
    expect(report.update).toMatchObject({ read: 4, matched: 2, updated: 1, unchanged: 1, unmatched: 1, ambiguous: 1 });
    expect(w.directory.users.get("p-1")).toMatchObject({ firstName: "Given1", lastName: "Sur1", userName: "user1@school.se", email: "user1@school.se" });
    expect(report.progress.pages).toBe(2);
    const cp = await w.checkpoints.get(T);
    expect(cp).toMatchObject({ kind: "delta", round: "initial", runId: report.runId });
    expect((await w.connector.get(T, "e-1"))?.match).toBe("matched");
  });

  it("a dry run writes nothing and leaves the tenant's checkpoint where it was", async () => {
    const w = world({ entra: [entra(1), entra(2)], platform: [platform(1), platform(2)] });
    const { report } = await w.sync({ dryRun: true, full: true });
    expect(report.update.updated).toBe(2);
    expect(w.directory.users.get("p-1")?.firstName).toBeUndefined();
    expect(w.directory.writeRoundTrips).toBe(0);
    expect(await w.checkpoints.get(T, "main")).toBeUndefined();
    expect(await w.checkpoints.get(T, "dryRun")).toMatchObject({ kind: "delta" });
    expect(await w.connector.isEmpty(T)).toBe(true);
  });

  it("an incremental run reads only the changes from the deltaLink and writes only changed users", async () => {
    const w = world({ entra: [entra(1), entra(2), entra(3)], platform: [platform(1), platform(2), platform(3)] });
    await w.sync({ full: true });
    const writesBefore = w.directory.writeRoundTrips;
    w.graph.setUser(entra(2, { givenName: "Renamed" }));
    const { report } = await w.sync();
    expect(report.progress.round).toBe("incremental");
    expect(report.update).toMatchObject({ read: 1, updated: 1 });
    expect(w.directory.users.get("p-2")?.firstName).toBe("Renamed");
    expect(w.directory.writeRoundTrips).toBe(writesBefore + 1);
    expect(await w.checkpoints.get(T)).toMatchObject({ kind: "delta", round: "incremental", runId: report.runId });
  });

  it("a removed Entra user is marked on the platform, never deleted, and cleared when it comes back", async () => {
    const w = world({ entra: [entra(1), entra(2)], platform: [platform(1), platform(2)] });
    await w.sync({ full: true });
    w.graph.removeUser("e-2", "deleted");
    const { report } = await w.sync();
    expect(report.update.removed).toBe(1);
    expect(w.directory.users.get("p-2")).toMatchObject({ entraRemovedReason: "deleted", entraRemovedAt: expect.any(String) });
    expect(w.directory.users.size).toBe(2);
    w.graph.setUser(entra(2));
    await w.sync();
    expect(w.directory.users.get("p-2")?.entraRemovedReason).toBeUndefined();
  });

  it("reads birthdays only where the mapping asks for them, and only for matched users", async () => {
    const w = world({ entra: [entra(1, { birthday: "2010-05-17T00:00:00Z" }), entra(2, { birthday: "2011-01-02T00:00:00Z" }), entra(3)], platform: [platform(1), platform(3)], tenant: { mapping: { ...memoryTenant().mapping, birthDate: true } } });
    await w.sync({ full: true });
    expect(w.graph.birthdayReads.sort()).toEqual(["e-1", "e-3"]);
    expect(w.directory.users.get("p-1")?.birthDate).toBe("2010-05-17");

    const off = world({ entra: [entra(1, { birthday: "2010-05-17T00:00:00Z" })], platform: [platform(1)] });
    await off.sync({ full: true });
    expect(off.graph.birthdayReads).toEqual([]);
    expect(off.directory.users.get("p-1")?.birthDate).toBeUndefined();
  });

  it("links by a configured key only where externalId finds nobody", async () => {
    const w = world({
      entra: [entra(1), entra(2)],
      platform: [{ id: "p-1", tenantId: T, userName: "USER1@school.se" }, { id: "p-2", tenantId: T, userName: "user2@school.se", externalId: "someone-else" }],
      tenant: { linking: { entra: "userPrincipalName", platform: "userName" } },
    });
    const { report } = await w.sync({ full: true });
    expect(w.directory.users.get("p-1")?.externalId).toBe("e-1");
    expect(w.directory.users.get("p-2")?.externalId).toBe("someone-else");
    expect(report.update).toMatchObject({ matched: 1, unmatched: 1 });
  });

  it("stopping after a page saves a nextLink checkpoint; the continuation finishes the round from there", async () => {
    const w = world({ entra: [entra(1), entra(2), entra(3), entra(4), entra(5)], platform: [1, 2, 3, 4, 5].map((i) => platform(i)) });
    const first = await w.sync({ full: true, shouldStop: () => true });
    expect(first.outcome.completed).toBe(false);
    expect(await w.checkpoints.get(T)).toMatchObject({ kind: "next", round: "initial", runId: first.report.runId });
    expect(first.report.update.read).toBe(2);
    const rest = await w.sync({ full: true, report: first.report });
    expect(rest.outcome.completed).toBe(true);
    expect(rest.report.update.read).toBe(5);
    expect(rest.report.progress.pages).toBe(3);
    expect(await w.checkpoints.get(T)).toMatchObject({ kind: "delta" });
  });

  it("an expired delta token starts a full resync and says so", async () => {
    const w = world({ entra: [entra(1), entra(2)], platform: [platform(1), platform(2)] });
    await w.sync({ full: true });
    w.graph.expireDeltaLinks();
    const { report } = await w.sync();
    expect(report.errors.map((e) => e.code)).toContain("GRAPH_DELTA_EXPIRED");
    expect(report.progress.round).toBe("initial");
    expect(report.update.read).toBe(2);
  });

  it("a failed platform write is counted and reported, the others go through", async () => {
    const w = world({ entra: [entra(1), entra(2)], platform: [platform(1), platform(2)] });
    w.directory.failing.add("p-2");
    const { report } = await w.sync({ full: true });
    expect(report.update).toMatchObject({ updated: 1, failed: 1 });
    expect(report.errors.find((e) => e.code === "STORAGE_CONFLICT")?.users).toEqual(["p-2"]);
  });
});
