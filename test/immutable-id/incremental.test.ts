import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { LocalStack } from "../../dev/stack.js";
import type { RunReport } from "../../src/runs/report.js";
import { b64, run, tenantWith } from "./helpers.js";
import { useLocalStack } from "../support/stack.js";

const stack = useLocalStack();

/** A scheduled-style run: both steps, incremental, the tenant's own mode. */
const scheduled = (s: LocalStack, tenantId: string) => run(s, tenantId);

/** What a plan concluded, without the bookkeeping of how it was made. */
const verdict = (r: RunReport) => ({ candidates: r.immutableId?.candidates, planned: r.immutableId?.planned, skipped: r.immutableId?.skipped, hash: r.immutableId?.plan?.hash ?? "" });

/** The plan a full re-plan of the connector space makes now (a dry run writes nothing, the candidate state included). */
const fullPlan = async (s: LocalStack, tenantId: string) => verdict(await run(s, tenantId, { only: ["immutableId"], dryRun: true }));

/** N users with a mail each (source email: update sync maps it into the platform user), matched by externalId. */
function withMail(n: number) {
  const users = Array.from({ length: n }, (_, i) => ({ id: randomUUID(), userPrincipalName: `user${i}@school.onmicrosoft.com`, mail: `user${i}@school.example` }));
  return { users, platformUsers: users.map((u, i) => ({ id: `p-${i}`, tenantId: "x", externalId: u.id })) };
}

async function addMatchedUser(s: LocalStack, tenantId: string, name: string, platform: Record<string, string> = {}) {
  const id = randomUUID();
  s.sim.control.addUsers(tenantId, [{ id, userPrincipalName: `${name}@school.onmicrosoft.com`, mail: `${name}@school.example` }]);
  await s.app.directory.importUsers(tenantId, [{ id: `p-${name}`, tenantId, externalId: id, ...platform }]);
  return id;
}

describe("Immutable ID candidates are kept current incrementally", () => {
  it("a scheduled run looks at exactly the users that changed, and its table reads do not grow with the tenant", async () => {
    const s = stack();
    const tenants = await Promise.all([300, 600].map((n) => tenantWith(s, { n, immutableId: { mode: "preview" } })));
    const rowsRead: Array<{ none: number; two: number }> = [];
    for (const { tenant, users } of tenants) {
      const id = tenant.tenantId;
      const first = await scheduled(s, id); // the first sync: a full round, so a full re-plan
      expect(first.immutableId?.planning).toMatchObject({ kind: "full", reason: "fullRun" });

      const none = await scheduled(s, id);
      expect(none.immutableId?.planning).toMatchObject({ kind: "incremental", evaluated: 0 });
      expect(verdict(none)).toEqual(verdict(first));

      s.sim.control.updateUser(id, users[0]!.id, { givenName: "Changed" });
      await addMatchedUser(s, id, "newcomer");
      const two = await scheduled(s, id);
      expect(two.immutableId?.planning).toMatchObject({ kind: "incremental", evaluated: 2 });
      expect(two.immutableId?.planned).toBe(first.immutableId!.planned + 1);
      expect(verdict(two)).toEqual(await fullPlan(s, id));
      rowsRead.push({ none: none.metrics!.tableRowsRead, two: two.metrics!.tableRowsRead });
    }
    // The same changes on a tenant twice the size read the same number of rows (a full scan would read twice as many).
    expect(rowsRead[1]).toEqual(rowsRead[0]);
    expect(rowsRead[0]!.two).toBeLessThan(300 / 4);
  }, 180_000);

  it("keeps duplicate values right as users gain, lose and share values, as a full re-plan would", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { ...withMail(8), immutableId: { mode: "preview", source: "email" } });
    const id = tenant.tenantId;
    await scheduled(s, id);
    const steps: Array<() => Promise<unknown> | void> = [
      // two users map to one value: both become duplicateValue
      () => s.sim.control.updateUser(id, users[1]!.id, { mail: "user2@school.example" }),
      // one of them moves away: the other is planned again though it did not change
      () => s.sim.control.updateUser(id, users[1]!.id, { mail: "fresh@school.example" }),
      // someone in Entra already holds the value another user would get
      () => s.sim.control.updateUser(id, users[3]!.id, { onPremisesImmutableId: b64("user4@school.example") }),
      // a new user arrives with a value nobody has
      () => addMatchedUser(s, id, "late", { email: "late@school.example" }),
      // a user leaves Entra
      () => s.sim.control.softDeleteUser(id, users[5]!.id),
    ];
    for (const [i, step] of steps.entries()) {
      await step();
      const r = await scheduled(s, id);
      expect(r.immutableId?.planning?.kind).toBe("incremental");
      expect({ step: i, ...verdict(r) }).toEqual({ step: i, ...(await fullPlan(s, id)) });
    }
    const last = await scheduled(s, id);
    expect(last.immutableId?.skipped).toMatchObject({ duplicateValue: 1 });
  }, 120_000);

  it("platform-side writes (an import, a SCIM-style replace) reach the incremental plan: it ends where a full re-plan does", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { ...withMail(6), immutableId: { mode: "preview", source: "email" } });
    const id = tenant.tenantId;
    await scheduled(s, id);
    const steps: Array<() => Promise<unknown>> = [
      // the platform's own import gives a linked user another source value (Entra did not change)
      () => s.app.directory.importUsers(id, [{ id: "p-0", tenantId: id, externalId: users[0]!.id, email: "imported@school.example" }]),
      // a write as the SCIM endpoint makes it (replace, guarded by the ETag): another user now shares that value
      async () => {
        const current = (await s.app.directory.get(id, "p-1"))!;
        await s.app.directory.replace(id, current, { ...current, email: "imported@school.example" });
      },
    ];
    for (const [i, step] of steps.entries()) {
      await step();
      const r = await scheduled(s, id);
      expect(r.immutableId?.planning).toMatchObject({ kind: "incremental" });
      expect({ step: i, ...verdict(r) }).toEqual({ step: i, ...(await fullPlan(s, id)) });
    }
    const last = await scheduled(s, id);
    expect(last.immutableId?.skipped).toMatchObject({ duplicateValue: 2 });
  }, 120_000);

  it("re-plans in full when the tenant's settings change, on a full run, and then goes on incrementally", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 10, immutableId: { mode: "preview" } });
    const id = tenant.tenantId;
    await scheduled(s, id);
    await s.app.tenants.update(id, { immutableId: { ...tenant.immutableId, mode: "preview", source: "userName" } });
    const changed = await scheduled(s, id);
    expect(changed.immutableId?.planning).toMatchObject({ kind: "full", reason: "settingsChanged" });
    expect(changed.notices.join(" ")).toMatch(/re-planned in full \(the tenant's Immutable ID settings or domains changed\)/);
    expect(verdict(changed)).toEqual(await fullPlan(s, id));
    expect((await scheduled(s, id)).immutableId?.planning).toMatchObject({ kind: "incremental", evaluated: 0 });
    // a cap or mode change alone does not change any user's state
    await s.app.tenants.update(id, { immutableId: { ...tenant.immutableId, source: "userName", maxWritesPerRun: 3 } });
    expect((await scheduled(s, id)).immutableId?.planning?.kind).toBe("incremental");
    expect((await run(s, id, { full: true })).immutableId?.planning).toMatchObject({ kind: "full", reason: "fullRun" });
    expect((await scheduled(s, id)).immutableId?.planning?.kind).toBe("incremental");
  }, 120_000);

  it("a run that dies while storing the candidate state leaves it consistent: the next run ends where a full re-plan does", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { ...withMail(400), immutableId: { mode: "preview", source: "email" } });
    const id = tenant.tenantId;
    await s.app.tenants.update(id, { guard: { enabled: false } }); // 300 of 400 users change: the mass-change guard would hold it
    await scheduled(s, id);
    // Enough changes for several transactions per partition; half of them make duplicates.
    users.slice(0, 300).forEach((u, i) => s.sim.control.updateUser(id, u.id, { mail: `moved${i - (i % 2)}@school.example` }));
    await run(s, id, { only: ["update"] }); // marks the 300 rows for the next plan
    const connector = s.app.tables.connectorSpace;
    let batches = 0;
    // The process dies at the third transaction of the candidate state (after two were stored).
    const fault: Parameters<typeof connector.pipeline.addPolicy>[0] = {
      name: "die-at-third-transaction",
      sendRequest: async (req, next) => {
        if (req.method === "POST" && req.url.includes("$batch") && ++batches === 3) throw new Error("killed");
        return next(req);
      },
    };
    connector.pipeline.addPolicy(fault);
    try {
      const died = await run(s, id, { only: ["immutableId"] });
      expect(died.status).toBe("failed");
    } finally {
      connector.pipeline.removePolicy({ name: fault.name });
    }
    expect(batches).toBeGreaterThanOrEqual(3);
    const after = await scheduled(s, id);
    expect(after.immutableId?.planning?.kind).toBe("incremental");
    expect(verdict(after)).toEqual(await fullPlan(s, id));
    expect(after.immutableId?.skipped.duplicateValue).toBeGreaterThan(0);
  }, 180_000);
});
