import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { App } from "../composition.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { planToCsv } from "../immutable-id/plan.js";
import { parseGuid } from "../tenants/model.js";
import type { RunStep } from "../runs/report.js";
import { queueRun } from "../runs/start.js";
import { approveHeldRun } from "../runs/hold.js";
import { listTenantStatuses, showRun, showRunPlan, showRuns } from "../runs/status.js";

/*
 * The run API's HTTP side: parses path, query and body, calls the use cases of src/runs/ (and the plan of
 * src/immutable-id/), and shapes their results and errors as HTTP answers. The handlers of this folder turn an answer
 * into an HttpResponseInit (./http.ts); tests call these functions directly with the app wired to the local stack.
 */

/** An HTTP answer, independent of the Functions types (the handlers turn it into an HttpResponseInit). */
export interface ApiResponse {
  status: number;
  body?: unknown;
  /** A non-JSON body (CSV). */
  text?: string;
  headers?: Record<string, string>;
}

/** The body of `POST /api/tenants/{tenantId}/runs`. Every field is optional. */
export const runRequestSchema = z
  .object({
    mode: z.enum(["incremental", "full"]).default("incremental"),
    dryRun: z.boolean().default(false),
    only: z
      .array(z.enum(["update", "immutableId"]))
      .min(1, "only must name at least one step")
      .max(2)
      .refine((a) => new Set(a).size === a.length, "only must not repeat a step")
      .optional(),
    /** Refused when true: a forced run names the plan that was reviewed (`forcePlan`). */
    force: z.boolean().default(false),
    /** The run whose reviewed Immutable ID plan this run writes, over the cap (only the entries that still hold). */
    forcePlan: z.string().regex(/^[0-9]{13}-[0-9a-f]{8}$/, "not a run id").optional(),
  })
  .strict();

const MAX_BODY = 16 * 1024;

/** `POST /api/tenants/{tenantId}/runs`: queues a manual run → 202 with its id and status URL. */
export async function requestRun(app: App, tenantIdParam: unknown, bodyText: string): Promise<ApiResponse> {
  return answer(async () => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const body = parseBody(bodyText);
    const report = await queueRun(app, { tenantId, trigger: "manual", mode: body.mode, dryRun: body.dryRun, only: body.only as RunStep[] | undefined, force: body.force, forcePlan: body.forcePlan });
    const location = runUrl(tenantId, report.runId);
    return { status: 202, body: { runId: report.runId, tenantId, status: "queued", location }, headers: { Location: location } };
  });
}

/** `POST /api/runs/{runId}/approve` body `{ "operator": "<who>" }`: approves a held run → 202 with the run that applies it. */
export async function approveRun(app: App, runIdParam: unknown, bodyText: string): Promise<ApiResponse> {
  return answer(async () => {
    const runId = parseRunId(runIdParam);
    if (bodyText.length > MAX_BODY) throw new EntraSyncError("INPUT_INVALID", `The body is larger than ${MAX_BODY} bytes.`, { field: "body", retryable: false });
    let body: unknown;
    try {
      body = JSON.parse(bodyText || "{}");
    } catch {
      body = undefined;
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new EntraSyncError("INPUT_INVALID", 'The body must be JSON naming who approves, e.g. {"operator":"ops@platform.example"}.', { field: "body", retryable: false });
    const { held, run } = await approveHeldRun(app, { runId, operator: (body as { operator?: unknown }).operator as string });
    const location = runUrl(run.tenantId, run.runId);
    return { status: 202, body: { runId: run.runId, tenantId: run.tenantId, status: "queued", location, approves: runId, approvedBy: held.hold?.approvedBy }, headers: { Location: location } };
  });
}

/** `GET /api/tenants/{tenantId}/runs/{runId}`: the run's report, live while it works. */
export async function getRun(app: App, tenantIdParam: unknown, runIdParam: unknown): Promise<ApiResponse> {
  return answer(async () => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const runId = parseRunId(runIdParam);
    return { status: 200, body: await showRun(app, tenantId, runId) };
  });
}

/** `GET /api/tenants/{tenantId}/runs?limit=`: recent runs, newest first (1–100, default 20). */
export async function listRuns(app: App, tenantIdParam: unknown, limitParam: string | null | undefined): Promise<ApiResponse> {
  return answer(async () => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    let limit = 20;
    if (limitParam !== null && limitParam !== undefined && limitParam !== "") {
      if (!/^\d{1,3}$/.test(limitParam) || Number(limitParam) < 1 || Number(limitParam) > 100)
        throw new EntraSyncError("INPUT_INVALID", `limit must be a whole number from 1 to 100, got ${JSON.stringify(limitParam.slice(0, 40))}.`, { field: "limit", retryable: false });
      limit = Number(limitParam);
    }
    return { status: 200, body: { tenantId, runs: await showRuns(app, tenantId, limit) } };
  });
}

/** `GET /api/tenants`: every tenant with its health. */
export async function listTenants(app: App): Promise<ApiResponse> {
  return answer(async () => ({ status: 200, body: { tenants: await listTenantStatuses(app) } }));
}

/** `GET /api/tenants/{tenantId}/runs/{runId}/plan[?format=csv]`: the Immutable ID plan of a run. */
export async function getPlan(app: App, tenantIdParam: unknown, runIdParam: unknown, format: string | null | undefined): Promise<ApiResponse> {
  return answer(async () => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const runId = parseRunId(runIdParam);
    if (format && format !== "csv" && format !== "json") throw new EntraSyncError("INPUT_INVALID", `format must be csv or json, got ${JSON.stringify(format.slice(0, 40))}.`, { field: "format", retryable: false });
    const entries = await showRunPlan(app, tenantId, runId);
    if (format === "csv") return { status: 200, text: planToCsv(entries), headers: { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": `attachment; filename="plan-${runId}.csv"` } };
    return { status: 200, body: { tenantId, runId, entries } };
  });
}

/** `GET /api/health`: the app's status and version; reads no customer data. */
export function healthAnswer(): ApiResponse {
  return { status: 200, body: { status: "ok", name: "entra-sync", version: appVersion() } };
}

let version: string | undefined;
/** The version in package.json (found upwards from this file, in src/ and in dist/ alike). */
export function appVersion(): string {
  if (version) return version;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const f = path.join(dir, "package.json");
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "entra-sync" && pkg.version) return (version = pkg.version);
    }
    dir = path.dirname(dir);
  }
  return (version = "unknown");
}

export const runUrl = (tenantId: string, runId: string): string => `/api/tenants/${tenantId}/runs/${runId}`;

function parseRunId(v: unknown): string {
  if (typeof v !== "string" || !/^[0-9]{13}-[0-9a-f]{8}$/.test(v))
    throw new EntraSyncError("INPUT_INVALID", `runId must look like 8246183918321-1a2b3c4d (as returned by POST /api/tenants/{tenantId}/runs), got ${JSON.stringify(typeof v === "string" ? v.slice(0, 60) : v)}.`, { field: "runId", retryable: false });
  return v;
}

function parseBody(text: string): z.infer<typeof runRequestSchema> {
  if (text.length > MAX_BODY) throw new EntraSyncError("INPUT_INVALID", `The body is larger than ${MAX_BODY} bytes.`, { field: "body", retryable: false });
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw new EntraSyncError("INPUT_INVALID", 'The body is not JSON. Send e.g. {"mode":"incremental","dryRun":false,"only":["update","immutableId"]} (every field optional; "forcePlan":"<runId>" forces Immutable ID sync with the plan of that run).', { field: "body", retryable: false });
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new EntraSyncError("INPUT_INVALID", "The body must be a JSON object with optional fields mode, dryRun, only, forcePlan.", { field: "body", retryable: false });
  const r = runRequestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length ? String(issue.path[0]) : issue.code === "unrecognized_keys" ? String((issue as { keys?: string[] }).keys?.[0] ?? "body") : "body";
    const allowed: Record<string, string> = { mode: '"incremental" or "full"', dryRun: "true or false", force: "true or false", forcePlan: "the id of the run whose Immutable ID plan you reviewed, e.g. 8246183918321-1a2b3c4d", only: 'a non-empty list of "update" and "immutableId"' };
    const msg = allowed[field] ? `${field} must be ${allowed[field]} (${issue.message}).` : `Unknown field ${JSON.stringify(field)}: the body takes mode, dryRun, only, forcePlan.`;
    throw new EntraSyncError("INPUT_INVALID", msg, { field, retryable: false });
  }
  return r.data;
}

const STATUS_BY_CODE: Record<string, number> = { INPUT_INVALID: 400, CONFIG_INVALID: 400, TENANT_NOT_FOUND: 404, RUN_NOT_FOUND: 404, PLAN_NOT_FOUND: 404, RUN_IN_PROGRESS: 409, RUN_HELD: 409, HOLD_NOT_PENDING: 409, USER_NOT_FOUND: 404 };

/** Turns any error into `{ error: { code, message, field } }` with its status: 4xx for bad input, 503/500 for ours. */
export function errorAnswer(e: unknown): ApiResponse {
  const err = toEntraSyncError(e);
  const status = STATUS_BY_CODE[err.code] ?? (err.retryable ? 503 : 500);
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.field) error.field = err.field;
  const body: Record<string, unknown> = { error };
  const headers: Record<string, string> = {};
  if ((err.code === "RUN_IN_PROGRESS" || err.code === "RUN_HELD") && typeof err.details?.activeRunId === "string") {
    body.activeRunId = err.details.activeRunId;
    headers.Location = runUrl(String(err.details.tenantId), err.details.activeRunId);
  }
  if (status === 503) headers["Retry-After"] = String(err.retryAfterSeconds ?? 30);
  return { status, body, headers };
}

export async function answer(fn: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await fn();
  } catch (e) {
    return errorAnswer(e);
  }
}
