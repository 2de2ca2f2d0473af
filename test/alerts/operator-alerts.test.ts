import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { digestFacts, digestMail, sendOperatorDigest } from "../../src/alerts/digest.js";
import { approveHeldRun } from "../../src/runs/hold.js";
import { createRun, executeRun, notifyObservers } from "../../src/runs/execute.js";
import type { RunReport } from "../../src/runs/report.js";
import { QUARANTINE_AFTER } from "../../src/runs/health.js";
import { recording } from "../expiry/helpers.js";
import { memoryLogger } from "../../src/log.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const outbox = mkdtempSync(path.join(tmpdir(), "ops-outbox-"));
const stackOf = useLocalStack({ env: { OPERATOR_EMAIL: "ops@platform.example", MAIL_OUTBOX_DIR: outbox, OPERATOR_ALERT_FAILURES: "3" } });

async function run(stack: LocalStack, tenantId: string): Promise<RunReport> {
  const r = await createRun(stack.app, { tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] });
  return (await executeRun(stack.app, tenantId, r.runId)).report;
}

describe("operator alerts", () => {
  it("quarantining a tenant mails the operators exactly once, however often the quarantine is observed; N non-auth failures in a row once", async () => {
    const stack = stackOf();
    const mailer = recording(stack.app.mailer);
    stack.app.mailer = mailer;
    const d = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    const ops = () => mailer.sent.filter((m) => m.idempotencyKey.startsWith(`${tenant.tenantId}/ops:`));
    const quarantineMails = () => ops().filter((m) => m.idempotencyKey.includes("/ops:quarantined:"));
    const failingMails = () => ops().filter((m) => m.idempotencyKey.includes("/ops:failing:"));
    stack.sim.control.injectFault({ tenantId: tenant.tenantId, path: "/users/delta", status: 400, count: 1_000_000 });

    let last: RunReport | undefined;
    for (let i = 1; i <= QUARANTINE_AFTER; i++) {
      last = await run(stack, tenant.tenantId);
      expect(last.status).toBe("failed");
      expect(last.failure?.class).not.toBe("auth");
      // The failing mail goes with the third failure in a row, and only then.
      expect(failingMails()).toHaveLength(i >= 3 ? 1 : 0);
      expect(quarantineMails()).toHaveLength(i === QUARANTINE_AFTER ? 1 : 0);
    }
    expect((await stack.app.health.get(tenant.tenantId)).quarantined).toBe(true);
    // Observed again (a worker retried after the observers ran), twice at once: nothing more is sent.
    await Promise.all([notifyObservers(stack.app, last!, tenant), notifyObservers(stack.app, last!, tenant)]);
    // A manual run while quarantined fails again: still the same quarantine, and the streak was already told.
    await run(stack, tenant.tenantId);
    expect(quarantineMails()).toHaveLength(1);
    expect(failingMails()).toHaveLength(1);
    const mail = quarantineMails()[0]!;
    expect(mail.to).toEqual(["ops@platform.example"]);
    expect(mail.subject).toContain("quarantined");
    expect(mail.text).toContain(`entra-sync tenant unquarantine ${tenant.tenantId}`);

    // A tenant whose Immutable ID plan is over the cap waits for review.
    const w = simpleDirectory(3);
    const capped = (await onboard(stack, { users: w.users, platformUsers: w.platformUsers, registration: { immutableId: { mode: "on", source: "id", encoding: "base64", maxWritesPerRun: 1, maxPercentPerRun: 100, federatedDomains: "skip" } } })).tenant;
    const cappedRun = await createRun(stack.app, { tenantId: capped.tenantId, trigger: "manual", mode: "full", dryRun: false });
    const cappedReport = (await executeRun(stack.app, capped.tenantId, cappedRun.runId)).report;
    expect(cappedReport.immutableId?.capExceeded).toBeTruthy();

    // The digest names them, once a day however often it runs.
    const first = await sendOperatorDigest(stack.app);
    const second = await sendOperatorDigest(stack.app);
    expect([first.outcome, second.outcome]).toEqual(["sent", "skipped"]);
    expect(first.facts.failing.find((f) => f.tenantId === tenant.tenantId)).toMatchObject({ quarantined: true });
    const digests = mailer.sent.filter((m) => m.idempotencyKey === `!operators/digest:${first.facts.date}`);
    expect(digests).toHaveLength(1);
    expect(digests[0]!.text).toContain(`${tenant.displayName} (${tenant.tenantId}): QUARANTINED`);
    expect(first.facts.plansAwaitingReview).toContainEqual(expect.objectContaining({ tenantId: capped.tenantId, runId: cappedReport.runId, planned: 3 }));
    expect(digests[0]!.text).toContain(`entra-sync plan --tenant ${capped.tenantId} --run ${cappedReport.runId}`);

    // A success lifts it; a later quarantine is a new one and is mailed again, once.
    stack.sim.control.clearFaults();
    expect((await run(stack, tenant.tenantId)).status).toBe("succeeded");
    expect((await stack.app.health.get(tenant.tenantId)).quarantined).toBe(false);
    stack.sim.control.injectFault({ tenantId: tenant.tenantId, path: "/users/delta", status: 400, count: 1_000_000 });
    for (let i = 1; i <= QUARANTINE_AFTER; i++) await run(stack, tenant.tenantId);
    expect(quarantineMails()).toHaveLength(2);
    expect(failingMails()).toHaveLength(2);
    stack.sim.control.clearFaults();
  });

  it("a run the mass-change guard holds mails the operators once per hold, with what to do; the digest lists the hold until it is approved", async () => {
    const stack = stackOf();
    const mailer = recording(stack.app.mailer);
    stack.app.mailer = mailer;
    const d = simpleDirectory(4);
    const guard = { enabled: true, removals: 1, changesPercent: 100, changesFloor: 1_000_000, termStarts: [], termRemovals: 1, termChangesPercent: 100 };
    const { tenant, clientSecret } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers, registration: { guard } });
    expect((await run(stack, tenant.tenantId)).status).toBe("succeeded");
    for (const u of d.users.slice(0, 3)) stack.sim.control.softDeleteUser(tenant.tenantId, u.id);
    const held = await run(stack, tenant.tenantId);
    expect(held.status).toBe("held");
    const heldMails = () => mailer.sent.filter((m) => m.idempotencyKey === `${tenant.tenantId}/ops:held:${held.runId}`);
    expect(heldMails()).toHaveLength(1);
    // Observed again, twice at once (a retried worker): still one mail for this hold.
    await Promise.all([notifyObservers(stack.app, held, tenant), notifyObservers(stack.app, held, tenant)]);
    expect(heldMails()).toHaveLength(1);
    const mail = heldMails()[0]!;
    expect(mail.to).toEqual(["ops@platform.example"]);
    expect(mail.subject).toContain("held for approval (3 removals");
    expect(mail.text).toContain(`entra-sync runs approve ${held.runId}`);
    expect(mail.text).toContain(`/api/ui/tenants/${tenant.tenantId}/runs/${held.runId}`);
    expect(mail.text).toContain(held.hold!.expiresAt);
    for (const u of d.users.slice(0, 3)) expect(mail.text).toContain(u.id);
    expect(mail.text + mail.html).not.toContain(clientSecret);

    // The digest names the hold with its numbers and the command; once approved, it no longer does.
    let facts = await digestFacts(stack.app);
    expect(facts.runsHeld).toContainEqual(expect.objectContaining({ tenantId: tenant.tenantId, runId: held.runId, removals: 3, expiresAt: held.hold!.expiresAt }));
    expect(digestMail(facts).lines.join("\n")).toContain(`entra-sync runs approve ${held.runId}`);
    const { run: approving } = await approveHeldRun(stack.app, { runId: held.runId, operator: "ops@platform.example" });
    expect((await executeRun(stack.app, tenant.tenantId, approving.runId)).report.status).toBe("succeeded");
    facts = await digestFacts(stack.app);
    expect(facts.runsHeld.find((h) => h.tenantId === tenant.tenantId)).toBeUndefined();
    expect(heldMails()).toHaveLength(1);
  });

  it("logs one metric line per run and one of the tenant's health, for Application Insights to query", async () => {
    const stack = stackOf();
    const log = memoryLogger();
    const before = stack.app.log;
    stack.app.log = log;
    try {
      const d = simpleDirectory(4);
      const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p) => ({ ...p, city: "Malmö" })) });
      const report = await run(stack, tenant.tenantId);
      const parsed = (name: string) => log.lines.filter((l) => l.startsWith(`INFO ${name} `)).map((l) => JSON.parse(l.slice(`INFO ${name} `.length)) as Record<string, unknown>);
      const runs = parsed("entra-sync.run").filter((m) => m.runId === report.runId);
      expect(runs).toEqual([expect.objectContaining({ tenantId: tenant.tenantId, status: "succeeded", read: report.update.read, updated: report.update.updated, failed: 0, throttled: report.graph.throttled, durationMs: report.durationMs })]);
      expect(parsed("entra-sync.health").filter((m) => m.tenantId === tenant.tenantId)).toEqual([{ tenantId: tenant.tenantId, consecutiveFailures: 0, quarantined: false, healthy: true }]);
    } finally {
      stack.app.log = before;
    }
  });
});
