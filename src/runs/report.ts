import { randomBytes } from "node:crypto";
import type { EntraSyncError, ErrorCode } from "../errors.js";
import { actionFor } from "./actions.js";

export type RunTrigger = "schedule" | "manual";
export type RunMode = "incremental" | "full";
export type RunStatus = "queued" | "running" | "succeeded" | "partial" | "failed" | "skipped";
export type RunStep = "update" | "immutableId";

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
}

export interface ImmutableIdCounts {
  candidates: number;
  planned: number;
  written: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  writesPerSecond?: number;
  capExceeded?: { planned: number; maxWrites: number; maxPercent: number; tenantUsers: number } | undefined;
  /** Where the plan of this run is stored (`runId` may be an earlier run with the identical plan). */
  plan?: { runId: string; entries: number; hash: string } | undefined;
}

export interface RunError {
  code: ErrorCode | string;
  message: string;
  /** Entra object ids (or platform ids) concerned; never secrets. At most 50 are kept. */
  users?: string[];
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
  status: RunStatus;
  queuedAt: string;
  startedAt?: string | undefined;
  endedAt?: string | undefined;
  durationMs?: number | undefined;
  progress: { pages: number; invocations: number; round?: "initial" | "incremental" | undefined };
  update: UpdateCounts;
  immutableId?: ImmutableIdCounts | undefined;
  graph: { requests: number; throttled: number; retried: number };
  /** Things an operator should know that are not failures (an expired delta token that forced a resync …). */
  notices: string[];
  errors: RunError[];
  /** Why the run failed, in words an operator can act on (set when status is failed). */
  failure?: { code: string; class: string; message: string; /** What to do about this class of failure. */ action?: string } | undefined;
}

/** Run ids sort newest first as Table Storage row keys: inverted milliseconds plus randomness. */
export function newRunId(now: Date): string {
  const inverted = (9_999_999_999_999 - now.getTime()).toString().padStart(13, "0");
  return `${inverted}-${randomBytes(4).toString("hex")}`;
}

export const emptyUpdateCounts = (): UpdateCounts => ({ read: 0, matched: 0, updated: 0, unchanged: 0, unmatched: 0, ambiguous: 0, removed: 0, failed: 0 });

export function newReport(o: { runId: string; tenantId: string; tenantName: string; trigger: RunTrigger; mode: RunMode; dryRun: boolean; only?: RunStep[]; force?: boolean; now: Date }): RunReport {
  return {
    runId: o.runId,
    tenantId: o.tenantId,
    tenantName: o.tenantName,
    trigger: o.trigger,
    mode: o.mode,
    dryRun: o.dryRun,
    only: o.only ?? ["update", "immutableId"],
    force: o.force ?? false,
    status: "queued",
    queuedAt: o.now.toISOString(),
    progress: { pages: 0, invocations: 0 },
    update: emptyUpdateCounts(),
    graph: { requests: 0, throttled: 0, retried: 0 },
    notices: [],
    errors: [],
  };
}

/** Adds an error to a report, merging users of the same code (capped). */
export function addError(report: RunReport, code: string, message: string, users: string[] = []): void {
  const existing = report.errors.find((e) => e.code === code && e.message === message);
  if (existing) {
    existing.users = [...new Set([...(existing.users ?? []), ...users])].slice(0, 50);
    return;
  }
  if (report.errors.length >= 50) return;
  report.errors.push(users.length ? { code, message, users: users.slice(0, 50) } : { code, message });
}

export function failReport(report: RunReport, e: EntraSyncError): void {
  report.status = "failed";
  report.failure = { code: e.code, class: e.errorClass, message: e.message, action: actionFor(e.errorClass, report.tenantId) };
  addError(report, e.code, e.message);
}
