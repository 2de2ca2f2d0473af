import { randomBytes } from "node:crypto";
import type { EntraSyncError, ErrorCode } from "../errors.js";
import { boundText, redactDeep } from "../util/redact.js";
import { actionFor } from "./actions.js";

/** What started a run: the scheduler's timer, an operator (API, CLI), or a Graph change notification. */
export type RunTrigger = "schedule" | "manual" | "notification";
export type RunMode = "incremental" | "full";
/** `held`: the mass-change guard stopped an update sync before it wrote anything; an operator approves it (see RunHold). */
export type RunStatus = "queued" | "running" | "succeeded" | "partial" | "failed" | "skipped" | "held";
export type RunStep = "update" | "immutableId";

const TERMINAL: ReadonlySet<RunStatus> = new Set(["succeeded", "partial", "failed", "skipped", "held"]);
/** True once a run has ended (succeeded, partial, failed, skipped or held): nothing works on it any more. */
export const isTerminal = (r: Pick<RunReport, "status">): boolean => TERMINAL.has(r.status);

export interface UpdateCounts {
  read: number;
  matched: number;
  updated: number;
  unchanged: number;
  unmatched: number;
  ambiguous: number;
  removed: number;
  failed: number;
  /** Lookup index entries of the platform directory that disagreed with their users, found and fixed by a full run. */
  indexRepaired?: number;
  /** The full round's check of that index ran in this run (once per run: as the snapshot is read, else at the end). */
  indexChecked?: boolean;
}

export interface ImmutableIdCounts {
  candidates: number;
  planned: number;
  written: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  writesPerSecond?: number;
  /** `cap`: the effective cap (the lower of the two limits); `mode`: the tenant's Immutable ID mode then (absent in older reports). */
  capExceeded?: { planned: number; maxWrites: number; maxPercent: number; tenantUsers: number; cap?: number; mode?: "off" | "preview" | "on" } | undefined;
  /**
   * How the plan was made: `incremental` (only users that changed since the last plan were looked at: `evaluated`;
   * `since`: when the candidate state was last rebuilt in full) or `full` (`reason`: dryRun, forcePlan, fullRun,
   * noState, settingsChanged).
   */
  planning?: { kind: "full" | "incremental"; reason?: string; evaluated?: number; since?: string } | undefined;
  /** Where the plan of this run is stored (`runId` may be an earlier run with the identical plan). */
  plan?: { runId: string; entries: number; hash: string; /** Stored in the tenant's live plan (as of run `runId`). */ live?: boolean } | undefined;
}

/** One change a held run would have made, as its preview shows it. */
export interface HoldPreviewEntry {
  platformUserId: string;
  entraId: string;
  /** `remove`: the platform user would be marked removed; `update`: attributes would change. */
  kind: "remove" | "update";
  /** The attributes that would change. */
  attributes: string[];
  /** Each attribute before and after; values of sensitive attributes read `[masked]`, as in the audit log. */
  changes: Array<{ attribute: string; old: string | null; new: string | null }>;
}

/** The thresholds a guarded run was measured against (see src/sync/guard.ts `guardThresholdsAt`). */
export interface GuardThresholds {
  /** Held when more platform users than this would be marked removed. */
  removals: number;
  /** Held when more than this percentage of the tenant's linked users would change … */
  changesPercent: number;
  /** … and more than this many (so a small school is not held for a handful of changes). */
  changesFloor: number;
  /** Whether the lower term-start thresholds applied (the run started in a term-start window). */
  termStart: boolean;
}

/**
 * Why a run was held by the mass-change guard, with what it would have changed: nothing was written, the checkpoint
 * did not move. An operator approves it (`entra-sync runs approve <runId>`, `POST /api/runs/{runId}/approve`) or it
 * expires after HOLD_EXPIRY_HOURS.
 */
export interface RunHold {
  /** Distinct platform users that would have been marked removed. */
  removals: number;
  /** Distinct platform users that would have been written (removals included). */
  changes: number;
  /** The tenant's linked platform users the percentage is of (null: not counted, the floor was not passed). */
  users: number | null;
  thresholds: GuardThresholds;
  /** Which thresholds were passed. */
  tripped: Array<"removals" | "changes">;
  /** The first changes (at most 50), in the order they were read. */
  preview: HoldPreviewEntry[];
  /** What the run would have read from: `initial` (a new full round) or a fingerprint of the tenant's checkpoint. */
  from: string;
  /** When the hold expires: after this the scheduler runs the tenant again and the guard decides afresh. */
  expiresAt: string;
  /** `pending` until approved or expired (`expired` is shown, not stored). */
  state: "pending" | "approved" | "expired";
  approvedBy?: string | undefined;
  approvedAt?: string | undefined;
  /** The run queued by the approval, which applies the held changes. */
  approvedRunId?: string | undefined;
}

export interface RunError {
  code: ErrorCode | string;
  message: string;
  /** Entra object ids (or platform ids) concerned; never secrets. At most 50 are kept. */
  users?: string[];
  /** How many more users were concerned than `users` holds. */
  moreUsers?: number;
}

/** One run's report: stored with the run, returned by the API, printed by the CLI. */
export interface RunReport {
  runId: string;
  tenantId: string;
  tenantName: string;
  trigger: RunTrigger;
  mode: RunMode;
  dryRun: boolean;
  only: RunStep[];
  force: boolean;
  /** A forced run: the run whose reviewed Immutable ID plan it writes (only the entries that still hold). */
  forcePlan?: string | undefined;
  status: RunStatus;
  queuedAt: string;
  startedAt?: string | undefined;
  endedAt?: string | undefined;
  durationMs?: number | undefined;
  progress: { pages: number; invocations: number; round?: "initial" | "incremental" | undefined };
  update: UpdateCounts;
  immutableId?: ImmutableIdCounts | undefined;
  graph: { requests: number; throttled: number; retried: number };
  /**
   * What the run cost, over all its invocations: table requests it sent and the rows they read (counted per run),
   * Graph requests, CPU time of the process while it worked (milliseconds) and the process's peak resident set size
   * meanwhile (MB).
   */
  metrics?: { tableRequests: number; tableRowsRead: number; graphRequests: number; cpuMs: number; peakRssMb: number } | undefined;
  /** Things an operator should know that are not failures (an expired delta token that forced a resync …). */
  notices: string[];
  errors: RunError[];
  /** How many more notices there were than `notices` holds (at most 50 are kept). */
  moreNotices?: number | undefined;
  /** How many more errors occurred than `errors` holds (at most 50 are kept). */
  moreErrors?: number | undefined;
  /**
   * Set while a queued run waits for a full-read slot (MAX_CONCURRENT_FULL_READS): its place in line (1 = next), the
   * slots in use, since when it waits. Removed when the run is admitted (a notice then says how long it waited).
   */
  /** `atLeast`: the position is a lower bound (the line is read only as far as its back-off needs). */
  waiting?: { for: "fullReadSlot"; position: number; atLeast?: boolean; inUse: number; limit: number; since: string; checkedAt: string } | undefined;
  /** Set when the mass-change guard held the run (status `held`): the numbers, the preview, the expiry. */
  hold?: RunHold | undefined;
  /** Set on a run an operator's approval queued: the held run whose changes it applies (the guard is bypassed once). */
  approves?: string | undefined;
  /** Why the run failed, in words an operator can act on (set when status is failed). */
  failure?: { code: string; class: string; message: string; /** What to do about this class of failure. */ action?: string } | undefined;
}

/** Run ids sort newest first as Table Storage row keys: inverted milliseconds plus randomness. */
export function newRunId(now: Date): string {
  const inverted = (9_999_999_999_999 - now.getTime()).toString().padStart(13, "0");
  return `${inverted}-${randomBytes(4).toString("hex")}`;
}

export const emptyUpdateCounts = (): UpdateCounts => ({ read: 0, matched: 0, updated: 0, unchanged: 0, unmatched: 0, ambiguous: 0, removed: 0, failed: 0 });

export function newReport(o: { runId: string; tenantId: string; tenantName: string; trigger: RunTrigger; mode: RunMode; dryRun: boolean; only?: RunStep[]; force?: boolean; forcePlan?: string | undefined; now: Date }): RunReport {
  return {
    runId: o.runId,
    tenantId: o.tenantId,
    tenantName: o.tenantName,
    trigger: o.trigger,
    mode: o.mode,
    dryRun: o.dryRun,
    only: o.only ?? ["update", "immutableId"],
    force: (o.force ?? false) || o.forcePlan !== undefined,
    ...(o.forcePlan ? { forcePlan: o.forcePlan } : {}),
    status: "queued",
    queuedAt: o.now.toISOString(),
    progress: { pages: 0, invocations: 0 },
    update: emptyUpdateCounts(),
    graph: { requests: 0, throttled: 0, retried: 0 },
    notices: [],
    errors: [],
  };
}

/** What a report keeps: errors, users per error and notices beyond these are counted, not listed. */
export const REPORT_LIMITS = { errors: 50, usersPerError: 50, notices: 50 } as const;

/**
 * Adds an error to a report, merging users of the same code and message. The message is masked and capped
 * (util/redact.ts); users beyond the cap are counted in `moreUsers`, errors beyond the cap in `moreErrors`.
 */
export function addError(report: RunReport, code: string, message: string, users: string[] = []): void {
  const text = boundText(message);
  const existing = report.errors.find((e) => e.code === code && e.message === text);
  if (existing) {
    const all = [...new Set([...(existing.users ?? []), ...users])];
    existing.users = all.slice(0, REPORT_LIMITS.usersPerError);
    const more = (existing.moreUsers ?? 0) + all.length - existing.users.length;
    if (more > 0) existing.moreUsers = more;
    return;
  }
  if (report.errors.length >= REPORT_LIMITS.errors) {
    report.moreErrors = (report.moreErrors ?? 0) + 1;
    return;
  }
  const unique = [...new Set(users)];
  const e: RunError = { code, message: text };
  if (unique.length) e.users = unique.slice(0, REPORT_LIMITS.usersPerError);
  if (unique.length > REPORT_LIMITS.usersPerError) e.moreUsers = unique.length - REPORT_LIMITS.usersPerError;
  report.errors.push(e);
}

export function failReport(report: RunReport, e: EntraSyncError): void {
  report.status = "failed";
  report.failure = { code: e.code, class: e.errorClass, message: boundText(e.message), action: actionFor(e.errorClass, report.tenantId) };
  addError(report, e.code, e.message);
}

/**
 * The report as it may leave the process: every string masked, messages and notices capped, lists capped with a
 * count of what was left out. Stores and answers pass reports through it; it returns a copy.
 */
export function boundReport(report: RunReport): RunReport {
  const r = redactDeep(report);
  if (r.notices.length > REPORT_LIMITS.notices) r.moreNotices = (r.moreNotices ?? 0) + r.notices.length - REPORT_LIMITS.notices;
  r.notices = r.notices.slice(0, REPORT_LIMITS.notices).map((n) => boundText(n));
  if (r.errors.length > REPORT_LIMITS.errors) r.moreErrors = (r.moreErrors ?? 0) + r.errors.length - REPORT_LIMITS.errors;
  r.errors = r.errors.slice(0, REPORT_LIMITS.errors).map((e) => {
    const out: RunError = { ...e, message: boundText(e.message) };
    if (e.users && e.users.length > REPORT_LIMITS.usersPerError) {
      out.users = e.users.slice(0, REPORT_LIMITS.usersPerError);
      out.moreUsers = (e.moreUsers ?? 0) + e.users.length - REPORT_LIMITS.usersPerError;
    }
    return out;
  });
  if (r.failure) r.failure = { ...r.failure, message: boundText(r.failure.message) };
  return r;
}

/**
 * The least a run's end can be recorded with when its full report cannot be saved: identity, times, counts and
 * the reason, status failed.
 */
export function minimalFailedReport(report: RunReport, e: EntraSyncError, endedAt: string): RunReport {
  const r: RunReport = {
    ...newReport({ runId: report.runId, tenantId: report.tenantId, tenantName: report.tenantName, trigger: report.trigger, mode: report.mode, dryRun: report.dryRun, only: report.only, force: report.force, now: new Date(report.queuedAt) }),
    startedAt: report.startedAt,
    endedAt,
    durationMs: Date.parse(endedAt) - Date.parse(report.startedAt ?? report.queuedAt),
    progress: { ...report.progress },
    update: { ...report.update },
    graph: { ...report.graph },
  };
  failReport(r, e);
  return r;
}
