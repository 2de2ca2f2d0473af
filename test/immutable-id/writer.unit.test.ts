import { describe, expect, it } from "vitest";
import type { ConnectorRow } from "../../src/connector/space.js";
import { toEntraSyncError } from "../../src/errors.js";
import type { WritePacer } from "../../src/graph/write-budget.js";
import type { PlannedUser } from "../../src/immutable-id/planner.js";
import { writeImmutableIds, type WriterOptions } from "../../src/immutable-id/writer.js";
import { MemoryTenantGraph, type MemUser } from "../support/memory.js";

/** The Immutable ID writer's logic against the in-memory graph: no network, no storage. */

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const user = (i: number, domain = "school.se", extra: Partial<MemUser> = {}): MemUser => ({ id: `e-${i}`, userPrincipalName: `user${i}@${domain}`, ...extra });
const planned = (u: MemUser, action: PlannedUser["action"] = "write"): PlannedUser => {
  const row: ConnectorRow = { id: u.id, user: { id: u.id, userPrincipalName: u.userPrincipalName }, match: "matched", platformUserId: `p-${u.id}` };
  return { entraId: u.id, userPrincipalName: u.userPrincipalName!, value: b64(`p-${u.id}`), platformUserId: `p-${u.id}`, action, row };
};
const free: WritePacer = { take: async () => {} };

function writer(graph: MemoryTenantGraph, o: Partial<WriterOptions> = {}) {
  const saved: ConnectorRow[] = [];
  const options: WriterOptions = {
    graph,
    budget: free,
    domains: { federated: graph.federated, initial: graph.initialDomain },
    federatedDomains: "skip",
    concurrency: 1,
    saveRows: async (rows) => void saved.push(...structuredClone(rows)),
    ...o,
  };
  return { saved, write: (users: PlannedUser[]) => writeImmutableIds(users, options) };
}

describe("Immutable ID writer (unit, in memory)", () => {
  it("writes the planned values, records each success, and leaves alone who gained a value or left since the plan", async () => {
    const users = [user(1), user(2), user(3)];
    const graph = new MemoryTenantGraph(users);
    const plan = users.map((u) => planned(u));
    graph.users.get("e-2")!.onPremisesImmutableId = "set-meanwhile";
    graph.users.delete("e-3");
    const w = writer(graph);
    const out = await w.write(plan);
    expect(out).toMatchObject({ written: 1, patches: 1, completed: true, skipped: { alreadySet: ["e-2"], notFound: ["e-3"] } });
    expect(graph.users.get("e-1")?.onPremisesImmutableId).toBe(plan[0]!.value);
    expect(graph.users.get("e-2")?.onPremisesImmutableId).toBe("set-meanwhile");
    expect(w.saved.find((r) => r.id === "e-1")?.user.onPremisesImmutableId).toBe(plan[0]!.value);
    expect(w.saved.find((r) => r.id === "e-2")?.user.onPremisesImmutableId).toBe("set-meanwhile");
  });

  it("federatedDomains skip: a user in a federated domain is skipped, nothing is sent for it", async () => {
    const graph = new MemoryTenantGraph([user(1, "fed.se"), user(2)]);
    graph.federated.add("fed.se");
    const w = writer(graph);
    const out = await w.write([planned(user(1, "fed.se"), "switchUpn"), planned(user(2))]);
    expect(out.skipped.federatedDomain).toEqual(["e-1"]);
    expect(graph.patches.map((p) => p.userId)).toEqual(["e-2"]);
  });

  it("switchUpn moves the UPN to the initial domain, then writes the value and puts the UPN back in one PATCH", async () => {
    const graph = new MemoryTenantGraph([user(1, "fed.se")]);
    graph.federated.add("fed.se");
    const w = writer(graph, { federatedDomains: "switchUpn" });
    const out = await w.write([planned(user(1, "fed.se"), "switchUpn")]);
    expect(out).toMatchObject({ written: 1, patches: 2, upnNotRestored: [] });
    expect(graph.patches.map((p) => [p.key, p.changes])).toEqual([
      ["m-e-1", { userPrincipalName: "user1@school.onmicrosoft.com" }],
      ["s-e-1", { onPremisesImmutableId: b64("p-e-1"), userPrincipalName: "user1@fed.se" }],
    ]);
    expect(graph.users.get("e-1")).toMatchObject({ userPrincipalName: "user1@fed.se", onPremisesImmutableId: b64("p-e-1") });
    // The move was recorded before it was sent, and cleared once done.
    expect(w.saved[0]?.upnSwitch).toMatchObject({ original: "user1@fed.se", temporary: "user1@school.onmicrosoft.com" });
    expect(w.saved.at(-1)?.upnSwitch).toBeUndefined();
  });

  it("switchUpn checks before the move that no other object holds the value: nothing is changed then", async () => {
    const graph = new MemoryTenantGraph([user(1, "fed.se"), user(9, "school.se", { onPremisesImmutableId: b64("p-e-1") })]);
    graph.federated.add("fed.se");
    const out = await writer(graph, { federatedDomains: "switchUpn" }).write([planned(user(1, "fed.se"), "switchUpn")]);
    expect(out.failed.duplicateValue?.map((f) => f.id)).toEqual(["e-1"]);
    expect(graph.patches).toEqual([]);
  });

  it("a whole group of plain writes refused with 403 is the missing permission: the run stops with AUTH_CONSENT_MISSING", async () => {
    const users = Array.from({ length: 12 }, (_, i) => user(i));
    const graph = new MemoryTenantGraph(users);
    graph.answer = (kind) => (kind === "patch" ? { status: 403, body: { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } } } : undefined);
    const err = await writer(graph).write(users.map((u) => planned(u))).catch((e: unknown) => toEntraSyncError(e));
    expect(err).toMatchObject({ code: "AUTH_CONSENT_MISSING" });
  });

  it("switchUpn's second step refused with 403 for a whole group is privileged users (the moves went through): skipped, left on the temporary UPN, reported", async () => {
    const users = Array.from({ length: 12 }, (_, i) => user(i, "fed.se"));
    const graph = new MemoryTenantGraph(users);
    graph.federated.add("fed.se");
    graph.answer = (kind, key) => (kind === "patch" && key.startsWith("s-") ? { status: 403, body: { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } } } : undefined);
    const out = await writer(graph, { federatedDomains: "switchUpn" }).write(users.map((u) => planned(u, "switchUpn")));
    expect(out.skipped.privilegedUser).toHaveLength(12);
    expect(out.upnNotRestored).toHaveLength(12);
    expect(out.upnNotRestored[0]).toMatchObject({ upn: "user0@fed.se", temporaryUpn: "user0@school.onmicrosoft.com", reason: "privilegedUser" });
    expect(graph.users.get("e-0")?.userPrincipalName).toBe("user0@school.onmicrosoft.com");
  });

  it("refusals are told apart: privileged user, duplicate value, federated UPN, throttled to the end", async () => {
    const users = [user(1), user(2), user(3), user(4, "fed.se"), user(5, "school.se", { onPremisesImmutableId: undefined })];
    const graph = new MemoryTenantGraph(users);
    graph.users.set("e-9", { id: "e-9", userPrincipalName: "x@school.se", onPremisesImmutableId: b64("p-e-2") });
    graph.answer = (kind, key) => {
      if (kind !== "patch") return undefined;
      if (key === "e-1") return { status: 403, body: { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } } };
      if (key === "e-3") return { status: 429, body: { error: { code: "TooManyRequests", message: "Too many requests" } } };
      return undefined;
    };
    // The plan did not know e-4's domain is federated (the domains changed since): Entra refuses the write.
    const w = writer(graph, { domains: { federated: new Set(), initial: undefined } });
    graph.federated.add("fed.se");
    const out = await w.write(users.map((u) => planned(u)));
    expect(out.skipped.privilegedUser).toEqual(["e-1"]);
    expect(out.failed.duplicateValue?.map((f) => f.id)).toEqual(["e-2"]);
    expect(out.failed.throttled?.map((f) => f.id)).toEqual(["e-3"]);
    expect(out.failed.refused?.map((f) => f.id)).toEqual(["e-4"]);
    expect(out.written).toBe(1);
    expect(graph.counters.throttled).toBe(1);
  });

  it("takes one write from the budget per PATCH, and stops between groups when asked", async () => {
    const users = Array.from({ length: 45 }, (_, i) => user(i));
    const graph = new MemoryTenantGraph(users);
    const taken: number[] = [];
    let groups = 0;
    const out = await writer(graph, { budget: { take: async (n) => void taken.push(n) }, shouldStop: () => groups >= 2, onGroup: () => void groups++ }).write(users.map((u) => planned(u)));
    expect(out).toMatchObject({ written: 40, patches: 40, completed: false });
    expect(taken).toEqual([20, 20]);
    expect(graph.patches).toHaveLength(40);
  });
});
