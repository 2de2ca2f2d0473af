import { describe, expect, it } from "vitest";
import { OPERATORS_SCOPE } from "../../src/alerts/mail.js";
import { thresholdKey } from "../../src/expiry/check.js";
import { REMOVED_USERS_KEPT_DAYS, scheduleDueRuns } from "../../src/runs/scheduler.js";
import { cliInProcess } from "../support/cli-local.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { RunReport } from "../../src/runs/report.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { drainQueue, movableClock } from "./helpers.js";

const DAY = 86_400_000;
const clock = movableClock(Date.parse("2027-02-01T08:00:00Z"));
const stackOf = useLocalStack({ clock: clock.now });
const cli = cliInProcess(() => stackOf().app);

/** Every RowKey of the tenant's connector space (rows and index entries). */
async function connectorKeys(tenantId: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of stackOf().app.tables.connectorSpace.listEntities({ queryOptions: { filter: `PartitionKey ge '${tenantId}_' and PartitionKey lt '${tenantId}\`'`, select: ["RowKey"] } })) keys.push(e.rowKey!);
  return keys;
}

describe("what the scheduler's pruning keeps bounded", () => {
  it("deletes the connector-space rows of users Entra removed long ago, with their index entries, and keeps recent ones", async () => {
    const s = stackOf();
    const d = simpleDirectory(6);
    const { tenant } = await onboard(s, { users: d.users, platformUsers: d.platformUsers });
    const id = tenant.tenantId;
    expect((await cli(["run", "--tenant", id])).code).toBe(0);
    const [old, recent] = [d.users[0]!.id, d.users[1]!.id];
    s.sim.control.hardDeleteUser(id, old);
    expect((await cli(["run", "--tenant", id])).code).toBe(0);
    clock.advance(20 * DAY);
    s.sim.control.hardDeleteUser(id, recent);
    expect((await cli(["run", "--tenant", id])).code).toBe(0);
    const before = await connectorKeys(id);
    expect(before).toContain(old);
    expect(before.filter((k) => k.startsWith("!r|") && k.endsWith(`|${old}`))).toHaveLength(1);

    clock.advance((REMOVED_USERS_KEPT_DAYS - 20) * DAY + 60_000);
    await scheduleDueRuns(s.app, { pruneSlices: 1, pruneDailySlices: 1 });
    const after = await connectorKeys(id);
    expect(after.filter((k) => k.includes(old))).toEqual([]); // the row and every index entry naming it
    expect(after).toContain(recent);
    expect(after.filter((k) => k.startsWith("!r|"))).toEqual([expect.stringContaining(recent)]);
    expect(after.filter((k) => !k.includes(old))).toEqual(before.filter((k) => !k.includes(old)));
    // The platform user keeps its removal mark; the next run reads nothing back and stays succeeded.
    const user = await s.app.directory.get(id, d.platformUsers[0]!.id);
    expect(user?.entraRemovedAt).toBeDefined();
    const jobs = (await drainQueue(s.app)).filter((j) => j.tenantId === id);
    expect(jobs).toHaveLength(1); // the tick's own run
    const next = (await processSyncJob(s.app, jobs[0]!)) as { report: RunReport };
    expect(next.report).toMatchObject({ status: "succeeded", update: { read: 0 } });
  });

  it("deletes records of mails sent after the audit log's retention, but the threshold mails of the secret in use", async () => {
    const s = stackOf();
    const { tenant } = await onboard(s, simpleDirectory(2));
    const id = tenant.tenantId;
    expect((await cli(["run", "--tenant", id])).code).toBe(0); // the secret's facts are recorded
    const facts = await s.app.secretFacts.get(id);
    const generation = facts?.generation ?? (await s.app.secretFacts.update(id, (f) => ({ ...f!, generation: "g-now" }))).generation!;
    const keys = [thresholdKey(generation, 30), thresholdKey("g-before", 30), "rotated:v1", `ops:failing:run-1`];
    for (const k of keys) expect(await s.app.alertIntents.claim(id, k, "threshold")).toBeDefined();
    expect(await s.app.alertIntents.claim(OPERATORS_SCOPE, "digest:2027-01-01", "operator")).toBeDefined();

    clock.advance(s.app.settings.audit.retentionDays * DAY - DAY);
    await scheduleDueRuns(s.app, { pruneSlices: 1, pruneDailySlices: 1 });
    expect((await s.app.alertIntents.list(id)).map((i) => i.key).sort()).toEqual([...keys].sort());

    clock.advance(2 * DAY);
    await scheduleDueRuns(s.app, { pruneSlices: 1, pruneDailySlices: 1 });
    expect((await s.app.alertIntents.list(id)).map((i) => i.key)).toEqual([thresholdKey(generation, 30)]);
    expect(await s.app.alertIntents.list(OPERATORS_SCOPE)).toEqual([]);
  });
});
