import type { TenantStatus } from "../../src/runs/status.js";
import { healthOf, type TenantRow } from "../../src/ui/overview.js";

/** A status page row of tenant number `i`: healthy, never run, secret unknown, unless `o` / `extra` say otherwise. */
export function tenantRow(i: number, o: Partial<TenantStatus> = {}, extra: Partial<TenantRow> = {}): TenantRow {
  const status: TenantStatus = {
    tenantId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    displayName: `School ${String(i).padStart(3, "0")}`,
    enabled: true,
    syncIntervalMinutes: 5,
    activeRun: null,
    abandonedRun: null,
    lastRun: null,
    lastSuccessAt: null,
    nextRunAt: null,
    consecutiveFailures: 0,
    backoffUntil: null,
    quarantined: false,
    quarantineReason: null,
    lastFailure: null,
    secret: null,
    auth: "secret",
    ...o,
  };
  return { status, health: healthOf(status), immutableIdMode: "preview", scim: { on: false, lastUsedAt: null }, ...extra };
}
