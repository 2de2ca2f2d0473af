import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { checkForcePlan, type PlanDeps } from "../immutable-id/plan.js";
import type { JobQueue } from "../queue/jobs.js";
import type { Tenant } from "../tenants/model.js";
import { endRun, newRunReport, type EndRunDeps, type RunRequest } from "./execute.js";
import type { Lease } from "../state/leases.js";
import { isActive, type LeaseStore } from "./lease.js";
import { isTerminal, newRunId, type RunReport } from "./report.js";
import type { HealthStore } from "./health.js";

/** The adapters starting a run needs (the App provides them all). */
export interface StartDeps extends EndRunDeps, PlanDeps {
  leases: LeaseStore;
  queue: Pick<JobQueue, "send">;
  /** Read for a pending hold of the mass-change guard (without it: not checked). */
  health?: Pick<HealthStore, "get"> | undefined;
}

export interface StartRunOptions {
  /** The registration, when the caller already has it. */
  tenant?: Tenant;
  /** Set when the caller works on the run at once (CLI) instead of queueing it. */
  owner?: string;
  /** When the scheduler may start the tenant's next run (the scheduler sets it; manual runs keep it). */
  nextRunAt?: string;
  /** The lease row as already read (null: known absent). */
  current?: Lease | null;
  /** The tenant's pending hold as already read (null: known none; the scheduler skips held tenants itself). */
  hold?: { runId: string; expiresAt: string } | null;
}

/**
 * Creates a run and claims the tenant's lease for it in one step: of any number of simultaneous requests for one
 * tenant exactly one gets a run, the others get RUN_IN_PROGRESS naming the run that is queued or under way.
 */
export async function startRun(app: Omit<StartDeps, "queue">, req: RunRequest, o: StartRunOptions = {}): Promise<{ report: RunReport; lease: Lease }> {
  const tenant = o.tenant ?? (await app.tenants.require(req.tenantId));
  await checkForce(app, tenant, req);
  const now = app.clock();
  await checkHold(app, tenant.tenantId, req, o.hold, now);
  const runId = newRunId(now);
  req = withPendingResync(tenant, req);
  const claim = await app.leases.claim(tenant.tenantId, runId, { ...(o.owner ? { owner: o.owner } : {}), nextRunAt: o.nextRunAt, ...(o.current !== undefined ? { current: o.current } : {}) });
  if (!claim.ok) throw runInProgress(tenant.tenantId, claim.held, now);
  const report = newRunReport(tenant, req, now, runId);
  if (tenant.fullResync && report.mode === "full") report.notices.push(`The attribute mapping changed (${tenant.fullResync.requestedAt}): this run reads every user so that each platform user gets the new mapping's values.`);
  try {
    if (claim.previous && !claim.previous.released && claim.previous.runId) await markAbandoned(app, tenant.tenantId, claim.previous.runId);
    await app.runs.save(report);
  } catch (e) {
    await app.leases.release(claim.lease).catch(() => undefined);
    throw e;
  }
  return { report, lease: claim.lease };
}

/**
 * A tenant whose mapping changed has a full resync pending: its next run that updates (not a dry run) reads every
 * user, whatever it asked for, so that every platform user gets the new mapping's values.
 */
function withPendingResync(tenant: Tenant, req: RunRequest): RunRequest {
  if (!tenant.fullResync || req.mode === "full" || req.dryRun || !(req.only ?? ["update"]).includes("update")) return req;
  return { ...req, mode: "full" };
}

/**
 * A forced run names the Immutable ID plan that was reviewed (`forcePlan`); a bare `force` is refused, since it
 * would write whatever the fresh plan holds. The named plan must be writable by this run.
 */
async function checkForce(app: PlanDeps, tenant: Tenant, req: RunRequest): Promise<void> {
  const bad = (field: string, why: string) => new EntraSyncError("INPUT_INVALID", why, { field, retryable: false });
  if (req.force && req.forcePlan === undefined)
    throw bad("force", `force alone is refused: name the Immutable ID plan you reviewed instead (API {"forcePlan":"<runId>"}, CLI --force-plan <runId>; the run ids are in entra-sync runs --tenant ${tenant.tenantId}).`);
  if (req.forcePlan === undefined) return;
  if (req.dryRun) throw bad("forcePlan", "forcePlan writes the reviewed plan; a dry run writes nothing: drop one of dryRun and forcePlan.");
  if (req.only && !req.only.includes("immutableId")) throw bad("forcePlan", 'forcePlan needs the Immutable ID step: add "immutableId" to only (CLI --only immutable-id).');
  if (tenant.immutableId.mode !== "on")
    throw bad("forcePlan", `Immutable ID sync of tenant ${tenant.tenantId} is in mode ${tenant.immutableId.mode}, so nothing would be written: switch it on first (entra-sync tenant update ${tenant.tenantId} --immutable-id-mode on).`);
  await checkForcePlan(app, tenant.tenantId, req.forcePlan);
}

/**
 * A tenant whose last update sync the mass-change guard held waits for an operator: a run that would update from the
 * same checkpoint is refused (RUN_HELD, a conflict like RUN_IN_PROGRESS) until the hold is approved or expires. A dry
 * run, a run without the update step, a full run (it reads afresh and is guarded itself) and the approved run pass.
 */
async function checkHold(app: Pick<StartDeps, "health">, tenantId: string, req: RunRequest, known: StartRunOptions["hold"], now: Date): Promise<void> {
  if (req.dryRun || req.mode === "full" || req.approves || !(req.only ?? ["update"]).includes("update")) return;
  const hold = known === undefined ? (await app.health?.get(tenantId))?.hold : (known ?? undefined);
  if (!hold || Date.parse(hold.expiresAt) <= now.getTime()) return;
  throw new EntraSyncError(
    "RUN_HELD",
    `Run ${hold.runId} of tenant ${tenantId} was held by the mass-change guard (until ${hold.expiresAt}): nothing runs from that checkpoint until it is reviewed. See what it would change (entra-sync runs --tenant ${tenantId} --json, or /api/tenants/${tenantId}/runs/${hold.runId}), then approve it (entra-sync runs approve ${hold.runId}), or read afresh with --full (guarded too).`,
    { retryable: true, field: "tenantId", details: { tenantId, activeRunId: hold.runId, heldRunId: hold.runId } },
  );
}

/** The error for a tenant whose lease another run holds; `details.activeRunId` names that run. */
export function runInProgress(tenantId: string, held: Lease | undefined, now: Date): EntraSyncError {
  const active = held && isActive(held, now) ? held.runId : undefined;
  return new EntraSyncError(
    "RUN_IN_PROGRESS",
    active
      ? `Run ${active} of tenant ${tenantId} is ${held?.owner ? "under way" : "queued"}; only one run per tenant at a time. Follow it at /api/tenants/${tenantId}/runs/${active} (or \`entra-sync runs --tenant ${tenantId}\`) and try again when it has ended.`
      : `Another run of tenant ${tenantId} was started at the same moment; try again when it has ended.`,
    { retryable: true, field: "tenantId", details: { tenantId, activeRunId: active ?? held?.runId } },
  );
}

/** Ends a run whose lease expired without it finishing (its worker stopped, its message was lost). */
async function markAbandoned(app: EndRunDeps, tenantId: string, runId: string): Promise<void> {
  const r = await app.runs.get(tenantId, runId);
  if (!r || isTerminal(r)) return;
  await endRun(app, r, {
    failure: new EntraSyncError("RUN_ABANDONED", `Run ${runId} stopped without finishing (its worker was stopped or its queue message was lost) and its lease expired. Nothing to do: the next run resumes from the checkpoint.`),
  });
}

/**
 * Queues a manual run (the run API): creates it, claims the tenant's lease and sends its first job. When the job
 * cannot be sent, the run is ended as failed (it would never start) and the lease given back; the error is thrown.
 */
export async function queueRun(app: StartDeps, req: RunRequest, o: { tenant?: Tenant; current?: Lease | null; /** The job stays invisible this long (change notifications coalesce a burst into one run). */ delaySeconds?: number } = {}): Promise<RunReport> {
  const tenant = o.tenant ?? (await app.tenants.require(req.tenantId));
  const { report } = await startRun(app, req, { tenant, ...(o.current !== undefined ? { current: o.current } : {}) });
  try {
    await app.queue.send({ tenantId: report.tenantId, runId: report.runId, continuation: 0 }, o.delaySeconds ?? 0);
  } catch (e) {
    const err = toEntraSyncError(e, "STORAGE_FAILED");
    // The run will never start: end it as failed, so it does not stay "queued" in the history.
    await endRun(app, report, { failure: err, notify: false }).catch(() => undefined);
    await app.leases.releaseRun(report.tenantId, report.runId).catch(() => undefined);
    throw err;
  }
  return report;
}
