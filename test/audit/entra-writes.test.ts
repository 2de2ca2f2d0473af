import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { listAudit } from "../../src/audit/list.js";
import type { StoredAuditEntry } from "../../src/audit/entry.js";
import { b64, ON, run } from "../immutable-id/helpers.js";
import { onboard, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const stackOf = useLocalStack();

async function entriesOf(stack: LocalStack, tenantId: string, runId: string): Promise<StoredAuditEntry[]> {
  return (await listAudit(stack.app, { tenantId, runId, limit: 1000 })).entries;
}

describe("audit log of writes into Entra", () => {
  it("records every ImmutableId write and UPN move of a run with its outcome, one batch per group", async () => {
    const stack = stackOf();
    const upns = ["ann@skolan.se", "bo@school.onmicrosoft.com", "cy@school.onmicrosoft.com", "admin@school.onmicrosoft.com"];
    const users = upns.map((upn, i) => ({ id: randomUUID(), userPrincipalName: upn, ...(i === 3 ? { privileged: true } : {}) }));
    const platformUsers = users.map((u, i) => ({ id: `p-${i}`, tenantId: "x", externalId: u.id }));
    const { tenant } = await onboard(stack, { users, platformUsers, federatedDomains: ["skolan.se"], registration: { immutableId: { ...ON, federatedDomains: "switchUpn" } } });
    const report = await run(stack, tenant.tenantId);
    const iid = report.immutableId!;
    expect(iid.written).toBe(3);

    const entra = (await entriesOf(stack, tenant.tenantId, report.runId)).filter((e) => e.target === "entra");
    const applied = entra.filter((e) => e.outcome === "applied");
    const failed = entra.filter((e) => e.outcome === "failed");
    // Every ImmutableId the report counts as written is one applied entry that set it.
    const setIds = applied.filter((e) => e.changes.some((c) => c.attribute === "onPremisesImmutableId"));
    expect(setIds).toHaveLength(iid.written);
    for (const e of setIds) {
      const i = Number(e.userId.slice(2));
      expect(e).toMatchObject({ source: "immutableId", runId: report.runId, entraId: users[i]!.id });
      expect(e.changes.find((c) => c.attribute === "onPremisesImmutableId")).toEqual({ attribute: "onPremisesImmutableId", old: null, new: b64(`p-${i}`) });
    }
    // The federated user: the move to the initial domain, then the ImmutableId with the UPN back.
    const ann = entra.filter((e) => e.userId === "p-0").map((e) => e.changes);
    expect(ann).toContainEqual([{ attribute: "userPrincipalName", old: "ann@skolan.se", new: "ann@school.onmicrosoft.com" }]);
    expect(ann).toContainEqual([
      { attribute: "onPremisesImmutableId", old: null, new: b64("p-0") },
      { attribute: "userPrincipalName", old: "ann@school.onmicrosoft.com", new: "ann@skolan.se" },
    ]);
    // The privileged admin was refused: recorded as failed, with the reason.
    expect(failed.map((e) => e.userId)).toEqual(["p-3"]);
    expect(failed[0]!.reason).toMatch(/^privilegedUser: HTTP 403/);
  });
});
