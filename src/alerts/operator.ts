import type { Settings } from "../config/settings.js";
import { ERROR_CODES, type ErrorCode } from "../errors.js";
import type { RunObserver } from "../runs/observer.js";
import type { RunHold, RunReport } from "../runs/report.js";
import type { RunStore } from "../runs/store.js";
import type { HealthRows } from "../state/health.js";
import type { Tenant } from "../tenants/model.js";
import { mailOperators, type OperatorMailDeps } from "./mail.js";

/** What the operator alerts after each run need (the App provides it). */
export interface OperatorAlertDeps extends OperatorMailDeps {
  settings: Pick<Settings, "mail" | "operatorAlertFailures"> & Partial<Pick<Settings, "notifications">>;
  health: Pick<HealthRows, "get">;
  runs: Pick<RunStore, "list">;
}

const classOf = (r: Pick<RunReport, "failure">): string | undefined => r.failure?.class ?? (r.failure ? ERROR_CODES[r.failure.code as ErrorCode] : undefined);
const isNonAuthFailure = (r: Pick<RunReport, "status" | "failure">): boolean => r.status === "failed" && classOf(r) !== "auth";

/**
 * One log line per run and one per tenant's health, for Application Insights: the Functions host sends every log
 * line to the `traces` table, where the alert rules and workbooks parse the JSON after the name
 * (`entra-sync.run {…}`). No secret is in them: counts, ids, codes.
 */
export function metricLines(report: RunReport, health: { consecutiveFailures: number; quarantined: boolean } | undefined): Array<[string, Record<string, unknown>]> {
  const u = report.update;
  const run: Record<string, unknown> = {
    tenantId: report.tenantId,
    runId: report.runId,
    trigger: report.trigger,
    mode: report.mode,
    dryRun: report.dryRun,
    status: report.status,
    read: u.read,
    updated: u.updated,
    failed: u.failed + Object.values(report.immutableId?.failed ?? {}).reduce((a, b) => a + (b ?? 0), 0),
    throttled: report.graph.throttled,
    durationMs: report.durationMs ?? 0,
    immutableIdWritten: report.immutableId?.written ?? 0,
    ...(report.failure ? { failureCode: report.failure.code, failureClass: classOf(report) } : {}),
  };
  const out: Array<[string, Record<string, unknown>]> = [["entra-sync.run", run]];
  if (health) out.push(["entra-sync.health", { tenantId: report.tenantId, consecutiveFailures: health.consecutiveFailures, quarantined: health.quarantined, healthy: health.consecutiveFailures === 0 }]);
  return out;
}

/**
 * The run observer that tells the operators (after the health observer recorded the run): a metric line per run; a
 * mail when the tenant is quarantined — exactly once per quarantine, keyed by when it began, so a run observed twice
 * or a retried worker sends nothing more; a mail when the mass-change guard held a run — once per hold, keyed by the
 * held run; and a mail when its last OPERATOR_ALERT_FAILURES runs all failed for a cause other than auth (auth
 * failures are the customer's to fix and are mailed to the customer's admins) — once per streak, keyed by the run
 * that completed it.
 */
export function operatorAlertObserver(deps: OperatorAlertDeps): RunObserver {
  return {
    name: "operatorAlerts",
    async afterRun(report, tenant) {
      if (report.status === "skipped" || report.dryRun) return;
      const health = await deps.health.get(report.tenantId);
      for (const [name, fields] of metricLines(report, health)) deps.log.info(name, fields);
      const name = tenant ? `${tenant.displayName} (${report.tenantId})` : report.tenantId;
      if (health.quarantined && health.quarantinedAt) {
        if (health.quarantinedAt === report.endedAt) deps.log.warn("entra-sync.quarantined", { tenantId: report.tenantId, runId: report.runId, failureCode: report.failure?.code });
        await mailOperators(deps, report.tenantId, `ops:quarantined:${health.quarantinedAt}`, quarantineMail(name, report, health.quarantineReason, tenant));
      }
      if (report.status === "held" && report.hold) await mailOperators(deps, report.tenantId, `ops:held:${report.runId}`, heldMail(name, report, report.hold, deps.settings.notifications?.baseUrl, tenant));
      if (!isNonAuthFailure(report)) return;
      const n = deps.settings.operatorAlertFailures;
      const recent = (await deps.runs.list(report.tenantId, n + 2)).filter((r) => r.runId !== report.runId && r.status !== "queued" && r.status !== "running" && r.status !== "skipped");
      const streak = [report, ...recent.slice(0, n - 1)];
      if (streak.length < n || !streak.every(isNonAuthFailure)) return;
      // Only the run that makes the streak N long mails: the one before it must not have been a non-auth failure.
      const before = recent[n - 1];
      if (before && isNonAuthFailure(before)) return;
      await mailOperators(deps, report.tenantId, `ops:failing:${report.runId}`, failingMail(name, report, n, tenant));
    },
  };
}

function quarantineMail(name: string, report: RunReport, reason: string | undefined, tenant: Tenant | undefined) {
  return {
    subject: `entra-sync: ${tenant?.displayName ?? report.tenantId} is quarantined`,
    lines: [
      `Tenant ${name} is quarantined: its scheduled runs have stopped.`,
      "",
      reason ?? `Its last run ${report.runId} failed.`,
      report.failure?.action ? `What to do: ${report.failure.action}` : "",
      "",
      `Look: entra-sync runs --tenant ${report.tenantId}; entra-sync audit --tenant ${report.tenantId}`,
      `Once the cause is fixed: entra-sync run --tenant ${report.tenantId} (a success lifts it), or entra-sync tenant unquarantine ${report.tenantId}`,
    ],
  };
}

/** Preview lines in the mail: ids and attribute names only (the values stay on the status page and in the report). */
const HELD_PREVIEW_LINES = 10;

function heldMail(name: string, report: RunReport, hold: RunHold, appUrl: string | undefined, tenant: Tenant | undefined) {
  const t = hold.thresholds;
  const why = hold.tripped.map((k) => (k === "removals" ? `${hold.removals} platform users would be marked removed (threshold ${t.removals})` : `${hold.changes} platform users would change, more than ${t.changesPercent} % of ${hold.users ?? "the"} linked users (and more than ${t.changesFloor})`));
  const page = `${(appUrl ?? "https://<function-app>").replace(/\/+$/, "")}/api/ui/tenants/${report.tenantId}/runs/${report.runId}`;
  return {
    subject: `entra-sync: a run of ${tenant?.displayName ?? report.tenantId} is held for approval (${hold.removals} removals, ${hold.changes} changes)`,
    lines: [
      `The mass-change guard held run ${report.runId} of tenant ${name}${t.termStart ? " (term-start thresholds)" : ""}: nothing was written and its checkpoint did not move.`,
      ...why.map((w) => `- ${w}`),
      "",
      `First changes (of ${hold.changes}):`,
      ...hold.preview.slice(0, HELD_PREVIEW_LINES).map((p) => `  ${p.kind === "remove" ? "removed in Entra" : `update ${p.attributes.join(", ")}`}: platform user ${p.platformUserId} (Entra ${p.entraId})`),
      ...(hold.preview.length > HELD_PREVIEW_LINES || hold.changes > hold.preview.length ? [`  … the preview with old and new values: entra-sync runs --tenant ${report.tenantId} --json, or the status page`] : []),
      "",
      `If these changes are expected (e.g. a school-year rollover), approve them: entra-sync runs approve ${report.runId}`,
      `or on the status page: ${page} (Review and approve held run).`,
      `If not, find the cause in the customer's Entra before approving. Unapproved, the hold expires at ${hold.expiresAt}; the tenant's scheduled runs wait until then, and the next one reads the changes again and the guard decides afresh.`,
    ],
  };
}

function failingMail(name: string, report: RunReport, n: number, tenant: Tenant | undefined) {
  return {
    subject: `entra-sync: ${tenant?.displayName ?? report.tenantId} failed ${n} runs in a row`,
    lines: [
      `The last ${n} runs of tenant ${name} failed, none for an auth cause (those go to the customer's admins).`,
      "",
      `Last run ${report.runId}: ${report.failure?.code ?? "failed"} (${classOf(report) ?? "unknown"}): ${report.failure?.message ?? ""}`,
      report.failure?.action ? `What to do: ${report.failure.action}` : "",
      "",
      `Look: entra-sync runs --tenant ${report.tenantId}`,
    ],
  };
}
