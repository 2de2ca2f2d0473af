import type { Tenant } from "../tenants/model.js";
import type { RunReport } from "./report.js";

/**
 * Told about every run that ends (succeeded, partial, failed, skipped) — health tracking, alert mails. An observer's
 * failure is logged and never changes the run's outcome.
 */
export interface RunObserver {
  name: string;
  afterRun(report: RunReport, tenant: Tenant | undefined): Promise<void>;
  /** Told once a queued run's lease is given back (the tenant is free for its next run). */
  afterRelease?(report: RunReport): Promise<void>;
}
