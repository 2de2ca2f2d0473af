import { toEntraSyncError } from "../errors.js";
import type { RunObserver } from "../runs/observer.js";
import { requestNotifiedRun, type ReceiveDeps } from "./receive.js";

/**
 * Starts one more run when change notifications came while a run was under way (it may have read past them): told
 * once the run's lease is given back, it clears the tenant's pending mark (ETag-guarded, so two ends never both
 * start one) and queues the run. A failure is logged: the scheduler's next run catches the change anyway.
 */
export function followUpObserver(app: ReceiveDeps): RunObserver {
  return {
    name: "notification follow-up",
    async afterRun() {},
    async afterRelease(report) {
      if (report.dryRun) return;
      const s = await app.notificationRows.get(report.tenantId);
      if (!s?.pendingRunAt) return;
      const cleared = await app.notificationRows.write({ ...s, pendingRunAt: "" });
      if (cleared === undefined) return;
      try {
        await requestNotifiedRun(app, report.tenantId);
      } catch (e) {
        app.log.warn(`could not start the run that follows change notifications: ${toEntraSyncError(e).message}`, { tenantId: report.tenantId });
      }
    },
  };
}
