import type { PlatformDirectory } from "../directory/directory.js";
import type { Settings } from "../config/settings.js";
import { guardThresholdsAt, type UpdateGuard } from "../sync/guard.js";
import type { Tenant } from "../tenants/model.js";
import type { RunHold, RunReport } from "./report.js";
import type { RunStore } from "./store.js";
import type { TableClient } from "@azure/data-tables";
import { cachedLinkedUsers } from "./hold-index.js";

/** What guarding a run needs (the App provides it; without settings the defaults apply). */
export interface RunGuardDeps {
  clock: () => Date;
  runs: Pick<RunStore, "get">;
  directory: Pick<PlatformDirectory, "list">;
  settings?: Partial<Pick<Settings, "holdExpiryHours" | "audit">> | undefined;
  /** Where the count of linked users is kept for a day (without it: counted whenever asked). */
  tables?: { runPlans?: TableClient; tenantState?: TableClient } | undefined;
}

/** Attributes masked when no settings say otherwise (AUDIT_SENSITIVE_ATTRIBUTES' default). */
const DEFAULT_SENSITIVE = ["ssn", "birthDate"];

/**
 * The guard of a run's update sync, from the tenant's settings and the date the run starts (undefined: the guard is
 * off, or the run is a dry run). A run an operator's approval queued carries the held run's numbers and checkpoint.
 */
export async function guardForRun(app: RunGuardDeps, tenant: Tenant, report: RunReport): Promise<UpdateGuard | undefined> {
  if (report.dryRun) return undefined;
  const thresholds = guardThresholdsAt(tenant.guard, app.clock());
  if (!thresholds) return undefined;
  const held = report.approves ? (await app.runs.get(tenant.tenantId, report.approves))?.hold : undefined;
  const hours = app.settings?.holdExpiryHours ?? 72;
  return {
    thresholds,
    approved: held && report.approves ? { runId: report.approves, from: held.from, removals: held.removals, changes: held.changes, approvedBy: held.approvedBy } : undefined,
    sensitive: new Set([...(app.settings?.audit?.sensitive ?? DEFAULT_SENSITIVE), ...(tenant.sensitiveAttributes ?? [])]),
    expiresAt: () => new Date(app.clock().getTime() + hours * 3_600_000).toISOString(),
    linkedUsers: async () => {
      const count = async () => {
        let n = 0;
        for await (const u of app.directory.list(tenant.tenantId)) if (u.externalId) n++;
        return n;
      };
      const table = app.tables?.tenantState;
      return table ? cachedLinkedUsers(table, tenant.tenantId, app.clock(), count) : count();
    },
  };
}

/** The notice of a held run: the numbers, and what to do. */
export function holdNotice(report: Pick<RunReport, "runId" | "tenantId">, h: RunHold): string {
  const t = h.thresholds;
  const why = h.tripped.map((k) => (k === "removals" ? `${h.removals} removals > ${t.removals}` : `${h.changes} changes > ${t.changesPercent} % of ${h.users ?? "?"} linked users (and > ${t.changesFloor})`)).join("; ");
  return `Held by the mass-change guard${t.termStart ? " (term-start thresholds)" : ""}: ${why}. Nothing was written and the checkpoint did not move. Review the preview (entra-sync runs --tenant ${report.tenantId} --json), then approve: entra-sync runs approve ${report.runId} (before ${h.expiresAt}; after that the next scheduled run decides afresh).`;
}
