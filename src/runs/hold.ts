import type { AuditLog } from "../audit/store.js";
import { EntraSyncError } from "../errors.js";
import type { HoldIndex } from "./hold-index.js";
import { holdStateAt } from "./hold-state.js";
import type { HealthStore } from "./health.js";
import type { RunReport } from "./report.js";
import { queueRun, type StartDeps } from "./start.js";

export { HoldIndex, HOLDS_PARTITION } from "./hold-index.js";
export { holdStateAt } from "./hold-state.js";

/*
 * Held runs: an update sync the mass-change guard stopped before it wrote anything (src/sync/guard.ts decides) waits
 * for an operator. `approveHeldRun` queues a run that applies it; a hold nobody approves expires after
 * HOLD_EXPIRY_HOURS, and the next scheduled run decides afresh.
 */

/** What approving needs (the App provides it). */
export interface HoldDeps extends StartDeps {
  holds: Pick<HoldIndex, "tenantOf">;
  health: Pick<HealthStore, "get">;
  audit?: Pick<AuditLog, "record"> | undefined;
}


const RUN_ID = /^[0-9]{13}-[0-9a-f]{8}$/;

/** Checks an operator name: who approved is recorded in the run and the audit log. */
export function parseOperator(v: unknown): string {
  const s = typeof v === "string" ? v.trim() : "";
  if (!s || s.length > 200 || /[\u0000-\u001f]/.test(s)) throw new EntraSyncError("INPUT_INVALID", `operator must name who approves (1 to 200 characters, e.g. an e-mail address); it is recorded with the run and in the audit log.`, { field: "operator", retryable: false });
  return s;
}

/**
 * Approves a held run: queues a run of the same tenant, mode and steps that applies the held changes (the guard is
 * bypassed once, for a run reading from the same checkpoint; if more would change now than the hold showed, that run
 * is held again with the new numbers), records who approved on the held run and in the audit log, and returns both.
 * HOLD_NOT_PENDING when the hold was approved already, expired, or a later run replaced it; RUN_IN_PROGRESS when
 * another run holds the tenant.
 */
export async function approveHeldRun(deps: HoldDeps, o: { runId: string; operator: string }): Promise<{ held: RunReport; run: RunReport }> {
  const operator = parseOperator(o.operator);
  if (!RUN_ID.test(o.runId)) throw new EntraSyncError("INPUT_INVALID", `runId must look like 8246183918321-1a2b3c4d (the held run's id, as entra-sync runs --tenant <guid> lists it), got ${JSON.stringify(o.runId.slice(0, 60))}.`, { field: "runId", retryable: false });
  const tenantId = await deps.holds.tenantOf(o.runId);
  const held = tenantId ? await deps.runs.get(tenantId, o.runId) : undefined;
  if (!tenantId || !held) throw new EntraSyncError("RUN_NOT_FOUND", `No held run ${o.runId} exists. The held runs of a tenant are listed by entra-sync runs --tenant <guid> (status held).`, { field: "runId", retryable: false });
  const hold = held.hold;
  if (held.status !== "held" || !hold) throw new EntraSyncError("HOLD_NOT_PENDING", `Run ${o.runId} was not held (its status is ${held.status}): there is nothing to approve.`, { field: "runId", retryable: false });
  const now = deps.clock();
  const state = holdStateAt(hold, now);
  if (state === "approved") throw new EntraSyncError("HOLD_NOT_PENDING", `Run ${o.runId} was approved already by ${hold.approvedBy ?? "?"} at ${hold.approvedAt ?? "?"}; run ${hold.approvedRunId ?? "?"} applies it (entra-sync runs --tenant ${tenantId}).`, { field: "runId", retryable: false });
  if (state === "expired")
    throw new EntraSyncError("HOLD_NOT_PENDING", `The hold of run ${o.runId} expired at ${hold.expiresAt} (HOLD_EXPIRY_HOURS): the next scheduled run reads the changes again and the guard decides afresh (approve that run if it is held again), or run now: entra-sync run --tenant ${tenantId}.`, { field: "runId", retryable: false });
  const pending = (await deps.health.get(tenantId)).hold;
  if (pending?.runId !== o.runId)
    throw new EntraSyncError("HOLD_NOT_PENDING", `A later run of tenant ${tenantId} replaced the hold of run ${o.runId}${pending ? ` (run ${pending.runId} is held now: approve that one)` : ""}; see entra-sync runs --tenant ${tenantId}.`, { field: "runId", retryable: false });

  const run = await queueRun(deps, { tenantId, trigger: "manual", mode: held.mode, dryRun: false, only: held.only, approves: o.runId });
  const at = deps.clock().toISOString();
  held.hold = { ...hold, state: "approved", approvedBy: operator, approvedAt: at, approvedRunId: run.runId };
  await deps.runs.save(held);
  await deps.audit?.record(tenantId, [
    {
      at,
      tenantId,
      runId: run.runId,
      source: "approval",
      target: "platform",
      userId: operator,
      changes: [
        { attribute: "heldRun", old: null, new: o.runId },
        { attribute: "removals", old: null, new: String(hold.removals) },
        { attribute: "changes", old: null, new: String(hold.changes) },
      ],
      outcome: "applied",
    },
  ]);
  return { held, run };
}
