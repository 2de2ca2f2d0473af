import { describe, expect, it, vi } from "vitest";
import { RecordFile } from "../../src/directory/snapshot.js";
import type { ConnectorRow } from "../../src/connector/space.js";
import type { CandidateState } from "../../src/connector/derived.js";
import type { PlatformUser } from "../../src/directory/types.js";
import type { StoredPlatformUser } from "../../src/directory/directory.js";
import { evaluateRow, type SkipReason, type TenantDomains } from "../../src/immutable-id/planner.js";
import { byPlanOrder, planHash, type PlanEntry } from "../../src/immutable-id/plan.js";
import type { Tenant } from "../../src/tenants/model.js";
import { MemoryConnectorSpace, MemoryDirectory, memoryTenant } from "../support/memory.js";
import { fullPlan } from "./full-plan.js";

/**
 * The full re-plan concludes rows page by page and values through hashes: it must give exactly what the whole-tenant
 * computation gives — the one below, over the rows and platform users held in memory (how the planner worked before).
 */
function reference(rows: ConnectorRow[], users: PlatformUser[], tenant: Tenant, domains: TenantDomains) {
  const byId = new Map(users.map((u) => [u.id, u as StoredPlatformUser]));
  const taken = new Set<string>();
  const inFlight = new Map<string, string>();
  for (const r of rows) {
    if (r.upnSwitch?.value && !r.removed) inFlight.set(r.upnSwitch.value.toLowerCase(), r.id);
    if (r.user.onPremisesImmutableId) taken.add(r.user.onPremisesImmutableId.toLowerCase());
  }
  const states = rows.map((r) => evaluateRow(r, r.platformUserId ? byId.get(r.platformUserId) : undefined, tenant.immutableId, domains));
  const count = new Map<string, number>();
  for (const s of states) if (s.cat === "planned") count.set(s.value!.toLowerCase(), (count.get(s.value!.toLowerCase()) ?? 0) + 1);
  const skipped: Partial<Record<SkipReason, number>> = {};
  const examples: Partial<Record<SkipReason, string[]>> = {};
  const entries: PlanEntry[] = [];
  const out = new Map<string, CandidateState>();
  rows.forEach((r, i) => {
    const s = states[i]!;
    if (s.cat === "planned") {
      const k = s.value!.toLowerCase();
      const mover = inFlight.get(k);
      if (taken.has(k) || count.get(k)! > 1 || (mover !== undefined && mover !== r.id)) s.cat = "duplicateValue";
    }
    out.set(r.id, s);
    if (s.cat === "removed") return;
    if (s.cat === "planned") entries.push({ entraId: r.id, userPrincipalName: s.upn!, value: s.value!, platformUserId: s.platformUserId!, action: s.action! });
    else {
      skipped[s.cat as SkipReason] = (skipped[s.cat as SkipReason] ?? 0) + 1;
      const ex = (examples[s.cat as SkipReason] ??= []);
      if (ex.length < 50) ex.push(r.id);
    }
  });
  return { entries: entries.sort(byPlanOrder), states: out, skipped, examples, hash: planHash(entries) };
}

const T = memoryTenant().tenantId;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** A seeded tenant: matched users with values that collide now and then, ImmutableIds held, moves, removals, odd rows. */
function tenantOf(n: number, seed: number) {
  let x = seed;
  const rnd = (k: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % k;
  const rows: ConnectorRow[] = [];
  const users: PlatformUser[] = [];
  for (let i = 0; i < n; i++) {
    const id = `e-${String(i).padStart(5, "0")}`;
    const roll = rnd(100);
    // a value from a small pool for a quarter of the users (duplicates across pages), else unique
    const name = roll < 25 ? `Pool${rnd(40)}` : `user${i}`;
    const row: ConnectorRow = { id, user: { id, userPrincipalName: `${rnd(2) ? "U" : "u"}ser${rnd(n)}@${rnd(10) === 0 ? "fed.se" : "school.se"}`, onPremisesImmutableId: null }, match: "matched", platformUserId: `p-${i}` };
    if (roll >= 25 && roll < 30) row.user.onPremisesImmutableId = b64(`pool${rnd(40)}`); // held: case differs from Pool…
    if (roll === 30) row.user.onPremisesSyncEnabled = true;
    if (roll === 31) row.removed = "deleted";
    if (roll === 32) row.removed = "changed";
    if (roll === 32 || roll === 31) row.user.onPremisesImmutableId = b64(`Pool${rnd(40)}`); // soft-deleted users keep theirs
    if (roll === 33) Object.assign(row, { match: "ambiguous", platformUserId: undefined });
    if (roll === 34) Object.assign(row, { match: "unmatched", platformUserId: undefined });
    if (roll === 35) row.upnSwitch = { original: `x${i}@fed.se`, temporary: `x${i}@school.onmicrosoft.com`, at: "2026-01-01T00:00:00Z", value: b64(`Pool${rnd(40)}`) };
    if (roll === 36) row.platformUserId = `p-gone-${i}`;
    rows.push(row);
    if (roll === 37) continue; // platform user deleted
    users.push({ id: `p-${i}`, tenantId: T, externalId: roll === 38 ? "e-relinked" : roll === 39 ? undefined : id, userName: roll === 40 ? "has space" : roll === 41 ? undefined : name });
  }
  return { rows, users };
}

async function both(n: number, seed: number, pageSize: number) {
  const { rows, users } = tenantOf(n, seed);
  const connector = new MemoryConnectorSpace();
  await connector.putMany(T, rows);
  const tenant = memoryTenant({ immutableId: { ...memoryTenant().immutableId, mode: "on", source: "userName", federatedDomains: "switchUpn" } });
  const domains: TenantDomains = { federated: new Set(["fed.se"]), initial: "school.onmicrosoft.com" };
  const listed: ConnectorRow[] = [];
  for await (const r of connector.list(T)) listed.push(r);
  const want = reference(listed, users, tenant, domains);
  const got = await fullPlan({ connector, directory: new MemoryDirectory(users) }, tenant, domains, { pageSize });
  return { want, got };
}

describe("full re-plan page by page (unit, in memory)", () => {
  for (const [n, seed, pageSize] of [[1_500, 7, 100], [300, 11, 7], [150, 3, 10]] as const) {
    it(`${n} users in pages of ${pageSize} (${n < 200 ? "platform users point-read" : "platform directory listed"}): exactly the plan, states, counts and examples of the whole-tenant computation`, async () => {
      const { want, got } = await both(n, seed, pageSize);
      expect(want.skipped.duplicateValue).toBeGreaterThan(3); // the case is there
      expect(got.entries.map(({ row: _r, ...e }) => e)).toEqual(want.entries);
      expect(got.hash).toBe(want.hash);
      expect(got.planned).toBe(want.entries.length);
      expect(got.skipped).toEqual(want.skipped);
      expect(got.examples).toEqual(want.examples);
      expect(got.states).toHaveLength(n);
      expect(new Map(got.states.map((r) => [r.id, r.iid]))).toEqual(want.states);
    });
  }

  it("platform users are read from the listing's file a few hundred at a time, not one read per user", async () => {
    const reads = vi.spyOn(RecordFile.prototype, "readMany");
    try {
      const { want, got } = await both(1_500, 7, 100);
      expect(got.hash).toBe(want.hash);
      const asked = reads.mock.calls.map(([at]) => at.length);
      // 1,500 rows, ~1,400 of them matched: every record read of the platform file asks for many users at once
      // (the spill file's block reads ask for one).
      const many = asked.filter((n) => n > 1);
      expect(many.reduce((a, b) => a + b, 0)).toBeGreaterThan(1_300);
      expect(reads.mock.calls.length).toBeLessThan(30);
    } finally {
      reads.mockRestore();
    }
  });

  it("duplicates split across pages: the first user of a value, concluded pages before the second, is not planned; nor is a value held or moved pages later", async () => {
    const rows: ConnectorRow[] = [];
    const users: PlatformUser[] = [];
    for (let i = 0; i < 40; i++) {
      const id = `e-${String(i).padStart(3, "0")}`;
      rows.push({ id, user: { id, userPrincipalName: `u${i}@school.se` }, match: "matched", platformUserId: `p-${i}` });
      users.push({ id: `p-${i}`, tenantId: T, externalId: id, userName: i === 0 || i === 39 ? "Same" : i === 1 ? "HeldLater" : i === 2 ? "MovedLater" : `n${i}` });
    }
    rows[38]!.user.onPremisesImmutableId = b64("HeldLater");
    rows[37]!.upnSwitch = { original: "a@fed.se", temporary: "a@school.onmicrosoft.com", at: "2026-01-01T00:00:00Z", value: b64("MovedLater") };
    rows[37]!.platformUserId = undefined;
    rows[37]!.match = "unmatched";
    const connector = new MemoryConnectorSpace();
    await connector.putMany(T, rows);
    const tenant = memoryTenant({ immutableId: { ...memoryTenant().immutableId, mode: "on", source: "userName" } });
    const p = await fullPlan({ connector, directory: new MemoryDirectory(users) }, tenant, { federated: new Set(), initial: "school.onmicrosoft.com" }, { pageSize: 5 });
    const state = (id: string) => p.states.find((r) => r.id === id)?.iid?.cat;
    expect([state("e-000"), state("e-039"), state("e-001"), state("e-002")]).toEqual(["duplicateValue", "duplicateValue", "duplicateValue", "duplicateValue"]);
    expect(p.entries.map((e) => e.entraId)).not.toContain("e-000");
    expect(p.skipped.duplicateValue).toBe(4);
    expect(p.planned).toBe(34); // 40, less the 4 above, one holding a value and one unmatched
  });
});
