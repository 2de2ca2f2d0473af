import { describe, expect, it } from "vitest";
import type { ConnectorRow } from "../../src/connector/space.js";
import type { PlatformUser } from "../../src/directory/types.js";
import { capOf } from "../../src/immutable-id/planner.js";
import { fullPlan } from "./full-plan.js";
import type { ImmutableIdConfig } from "../../src/tenants/model.js";
import { MemoryConnectorSpace, MemoryDirectory, memoryTenant } from "../support/memory.js";

/** The Immutable ID planner's logic on the in-memory connector space and directory: no network, no storage. */

const T = memoryTenant().tenantId;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const row = (i: number, o: Partial<ConnectorRow> & { upn?: string; immutableId?: string; synced?: boolean } = {}): ConnectorRow => ({
  id: `e-${i}`,
  user: { id: `e-${i}`, userPrincipalName: o.upn ?? `user${i}@school.se`, onPremisesImmutableId: o.immutableId ?? null, onPremisesSyncEnabled: o.synced ?? null },
  match: "matched",
  platformUserId: `p-${i}`,
  ...o,
});
const platform = (i: number, o: Partial<PlatformUser> = {}): PlatformUser => ({ id: `p-${i}`, tenantId: T, externalId: `e-${i}`, ...o });

async function plan(rows: ConnectorRow[], users: PlatformUser[], cfg: Partial<ImmutableIdConfig> = {}, federated: string[] = [], initial: string | null = "school.onmicrosoft.com") {
  const connector = new MemoryConnectorSpace();
  await connector.putMany(T, rows);
  const tenant = memoryTenant({ immutableId: { ...memoryTenant().immutableId, mode: "on", ...cfg } });
  return fullPlan({ connector, directory: new MemoryDirectory(users) }, tenant, { federated: new Set(federated), initial: initial ?? undefined });
}

describe("Immutable ID planner (unit, in memory)", () => {
  it("plans the encoded value of the matched platform user; skips, with a reason, whoever must not get one", async () => {
    const p = await plan(
      [row(1), row(2, { immutableId: "already" }), row(3, { synced: true }), row(4, { match: "ambiguous", platformUserId: undefined }), row(5, { match: "unmatched", platformUserId: undefined }), row(6), row(7, { removed: "deleted" })],
      [platform(1), platform(6, { externalId: "e-someone-else" })],
    );
    expect(p.entries.map((e) => [e.entraId, e.value, e.action])).toEqual([["e-1", b64("p-1"), "write"]]);
    expect(p.skipped).toEqual({ alreadySet: 1, onPremisesSynced: 1, ambiguousMatch: 1, noPlatformMatch: 2 });
    expect(p.tenantUsers).toBe(6);
    expect(p.candidates).toBe(4);
  });

  it("a value held by anyone, or that two users would get, is planned for nobody", async () => {
    const p = await plan([row(1), row(2), row(3), row(4, { immutableId: b64("x") })], [platform(1, { userName: "same" }), platform(2, { userName: "same" }), platform(3, { userName: "x" })], { source: "userName" });
    expect(p.entries).toEqual([]);
    expect(p.skipped.duplicateValue).toBe(3);
  });

  it("federated domains: skipped with `skip`, planned as switchUpn with `switchUpn` only when the initial domain is known", async () => {
    const rows = [row(1, { upn: "a@fed.se" }), row(2)];
    const users = [platform(1), platform(2)];
    expect((await plan(rows, users, { federatedDomains: "skip" }, ["fed.se"])).skipped.federatedDomain).toBe(1);
    const sw = await plan(rows, users, { federatedDomains: "switchUpn" }, ["fed.se"]);
    expect(sw.entries.map((e) => [e.entraId, e.action])).toEqual([["e-1", "switchUpn"], ["e-2", "write"]]);
    expect((await plan(rows, users, { federatedDomains: "switchUpn" }, ["fed.se"], null)).skipped.federatedDomain).toBe(1);
  });

  it("a source Entra refuses as a value is skipped as valueNotAllowed; an empty one as emptySource", async () => {
    const p = await plan([row(1), row(2)], [platform(1, { userName: "has space" }), platform(2)], { source: "userName", encoding: "raw" });
    expect(p.skipped).toMatchObject({ valueNotAllowed: 1, emptySource: 1 });
    expect(p.entries).toEqual([]);
  });

  it("a large tenant (platform users listed, not point-read) plans the same, and keeps slim rows: no whole Entra user", async () => {
    const n = 300;
    const rows = Array.from({ length: n }, (_, i) => ({ ...row(i), user: { ...row(i).user, givenName: `Given${i}`, surname: "Ek", mail: `m${i}@school.se` } }));
    // p-1 is linked to someone else, p-2 is gone, p-3 and p-4 give one value (userName), p-5 has none.
    const users = Array.from({ length: n }, (_, i) => platform(i, { userName: i === 3 || i === 4 ? "same" : `u${i}` })).filter((u) => u.id !== "p-2" && u.id !== "p-5");
    users.push(platform(5, { userName: undefined }));
    users[1] = platform(1, { externalId: "e-other", userName: "u1" });
    const directory = new MemoryDirectory(users);
    let gets = 0;
    const get = directory.get.bind(directory);
    directory.get = async (t, id) => (gets++, get(t, id));
    const connector = new MemoryConnectorSpace();
    await connector.putMany(T, rows);
    const tenant = memoryTenant({ immutableId: { ...memoryTenant().immutableId, mode: "on", source: "userName" } });
    const p = await fullPlan({ connector, directory }, tenant, { federated: new Set(), initial: "school.onmicrosoft.com" });
    expect(gets).toBe(0); // one listing instead of a read per user
    expect(p.skipped).toEqual({ noPlatformMatch: 2, duplicateValue: 2, emptySource: 1 });
    expect(p.entries).toHaveLength(n - 5);
    expect(p.entries.find((e) => e.entraId === "e-7")).toMatchObject({ value: b64("u7"), platformUserId: "p-7", action: "write" });
    for (const r of [...p.states, ...p.entries.map((e) => e.row)]) {
      expect(r.user).not.toHaveProperty("givenName");
      expect(r.user).not.toHaveProperty("mail");
    }
    expect(p.states.find((r) => r.id === "e-7")?.iid).toMatchObject({ cat: "planned", value: b64("u7") });
  });

  it("the cap is the lower of the count and the percentage of the tenant's users", () => {
    const cfg = { ...memoryTenant().immutableId, maxWritesPerRun: 500, maxPercentPerRun: 10 };
    expect(capOf(cfg, 1_000)).toBe(100);
    expect(capOf(cfg, 100_000)).toBe(500);
    expect(capOf(cfg, 9)).toBe(0);
  });
});
