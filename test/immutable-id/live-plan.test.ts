import { describe, expect, it } from "vitest";
import { byPlanOrder, planHash, PlanStore, type PlanEntry } from "../../src/immutable-id/plan.js";
import { newRunId } from "../../src/runs/report.js";
import { useLocalStack } from "../support/stack.js";

const stack = useLocalStack();

const entry = (i: number, o: Partial<PlanEntry> = {}): PlanEntry => ({ entraId: `e-${String(i).padStart(4, "0")}`, userPrincipalName: `u${(i * 7919) % 1000}@school.se`, value: `v${i}`, platformUserId: `p-${i}`, action: "write", ...o });
async function* stream(entries: PlanEntry[]) {
  yield* entries;
}

describe("the live plan, compared in full (a full re-plan: both sides streamed, not held)", () => {
  it("keeps every run's plan: entries unchanged stay, changed ones are closed and replaced, gone ones closed, new ones added", async () => {
    const s = stack();
    const plans = new PlanStore(s.app.tables.runPlans);
    const tenantId = "3e1bd3a4-53a7-4d3c-9d5a-0d5c1b8f8a01";
    const t0 = Date.parse("2026-11-30T10:00:00Z");
    const r1 = newRunId(new Date(t0));
    const r2 = newRunId(new Date(t0 + 60_000));
    const r3 = newRunId(new Date(t0 + 120_000));
    // Over two transactions of changes, in no particular order.
    const first = Array.from({ length: 250 }, (_, i) => entry(i)).reverse();
    await plans.applyLive(tenantId, r1, { set: [], removed: [], hashBefore: "", hashAfter: planHash(first), all: () => stream(first) });
    // 40 leave the plan, 30 get another value, 20 another UPN, 60 join; the rest stay as they were.
    const second = [
      ...Array.from({ length: 210 }, (_, i) => (i < 30 ? entry(i, { value: `w${i}` }) : i < 50 ? entry(i, { userPrincipalName: `moved${i}@school.se` }) : entry(i))),
      ...Array.from({ length: 60 }, (_, i) => entry(1000 + i, { action: "switchUpn" })),
    ];
    await plans.applyLive(tenantId, r2, { set: [], removed: [], hashBefore: "", hashAfter: planHash(second), all: () => stream(second) });
    expect(await plans.listLive(tenantId, r1)).toEqual([...first].sort(byPlanOrder));
    expect(await plans.listLive(tenantId, r2)).toEqual([...second].sort(byPlanOrder));
    // The same plan again: nothing to write (no entry rows made).
    const rows = async () => {
      let n = 0;
      for await (const _e of s.app.tables.runPlans.listEntities({ queryOptions: { filter: `PartitionKey eq '${tenantId}_!live'` } })) n++;
      return n;
    };
    const before = await rows();
    await plans.applyLive(tenantId, r3, { set: [], removed: [], hashBefore: "", hashAfter: `${planHash(second)}0`, all: () => stream([...second].reverse()) });
    expect(await rows()).toBe(before);
    expect(await plans.listLive(tenantId, r3)).toEqual([...second].sort(byPlanOrder));
  });
});
