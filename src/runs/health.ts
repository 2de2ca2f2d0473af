import type { TableClient } from "@azure/data-tables";
import type { RunObserver } from "./observer.js";
import { actionFor } from "./actions.js";
import { HealthRows, type TenantHealth } from "../state/health.js";
import type { RunReport } from "./report.js";

/** Waits after 1, 2, 3, 4+ consecutive failures before the scheduler tries the tenant again. */
export const BACKOFF_MINUTES = [15, 60, 6 * 60, 24 * 60] as const;
/** Consecutive failures after which a tenant is quarantined (no scheduled runs until a success or the CLI). */
export const QUARANTINE_AFTER = 5;

export { actionFor };

/** The backoff after `failures` consecutive failures, in minutes. */
export function backoffMinutes(failures: number): number {
  if (failures <= 0) return 0;
  return BACKOFF_MINUTES[Math.min(failures, BACKOFF_MINUTES.length) - 1]!;
}

/** Tenant health over its rows (src/state/health.ts): the backoff and quarantine policy. */
export class HealthStore extends HealthRows {
  constructor(
    table: TableClient,
    private readonly clock: () => Date,
  ) {
    super(table);
  }

  /** Records a run that ended: failures count up, back off and finally quarantine; a success clears all of it. */
  async recordRun(report: RunReport): Promise<TenantHealth> {
    const endedAt = report.endedAt ?? this.clock().toISOString();
    return this.update(report.tenantId, (h) => {
      const iid = report.immutableId;
      const planPending = iid?.plan && iid.planned > iid.written ? { runId: report.runId, planned: iid.planned, written: iid.written, capExceeded: !!iid.capExceeded } : undefined;
      h.lastRun = { runId: report.runId, status: report.status, trigger: report.trigger, endedAt, ...(planPending ? { planPending } : {}) };
      // A held run waits for approval (the scheduler starts none before it expires); the next run that updates and is
      // not held ends the wait, whatever became of the hold.
      if (report.status === "held" && report.hold) h.hold = { runId: report.runId, expiresAt: report.hold.expiresAt, removals: report.hold.removals, changes: report.hold.changes, tripped: [...report.hold.tripped] };
      else if (!report.dryRun && report.only.includes("update") && (report.status === "succeeded" || report.status === "partial")) h.hold = undefined;
      if (report.status === "failed") {
        h.consecutiveFailures++;
        const f = report.failure ?? { code: "INTERNAL", class: "bug", message: "The run failed without a recorded reason." };
        h.lastFailure = { code: f.code, class: f.class, message: f.message, action: report.failure?.action ?? actionFor(f.class, report.tenantId), at: endedAt };
        h.backoffUntil = new Date(Date.parse(endedAt) + backoffMinutes(h.consecutiveFailures) * 60_000).toISOString();
        if (h.consecutiveFailures >= QUARANTINE_AFTER && !h.quarantined) {
          h.quarantined = true;
          h.quarantinedAt = endedAt;
          h.quarantineReason = `${h.consecutiveFailures} runs in a row failed; the last with ${f.code}: ${f.message} Scheduled runs stop until a manual run succeeds or \`entra-sync tenant unquarantine ${report.tenantId}\`.`;
        }
      } else if (report.status === "succeeded" || report.status === "partial") {
        h.consecutiveFailures = 0;
        h.lastSuccessAt = endedAt;
        h.backoffUntil = undefined;
        h.quarantined = false;
        h.quarantinedAt = undefined;
        h.quarantineReason = undefined;
      }
      return h;
    });
  }

  /** Lifts a quarantine and the backoff (the operator fixed the cause). */
  async unquarantine(tenantId: string): Promise<TenantHealth> {
    return this.update(tenantId, (h) => ({ ...h, quarantined: false, quarantinedAt: undefined, quarantineReason: undefined, backoffUntil: undefined, consecutiveFailures: 0 }));
  }
}

/** The run observer that keeps tenant health (backoff, quarantine). Kept apart from alert mails. */
export function healthObserver(store: HealthStore): RunObserver {
  return {
    name: "health",
    async afterRun(report) {
      if (report.status === "skipped") return;
      await store.recordRun(report);
    },
  };
}
