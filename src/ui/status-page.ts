import { listAudit, type ListAuditDeps } from "../audit/list.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../log.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { planToCsv, type PlanDeps } from "../immutable-id/plan.js";
import type { SchedulerDeps } from "../runs/scheduler.js";
import type { StartDeps } from "../runs/start.js";
import { listTenantStatuses, showRun, showRunPlan, showRuns, type StatusDeps } from "../runs/status.js";
import { parseGuid } from "../tenants/model.js";
import { authenticate, checkConfirmToken, confirmToken, signIn, UI_BASE, type AccessRequest, type Operator } from "./access.js";
import { argFieldOf, describeAction, parseAction, performAction, type ActionDeps } from "./actions.js";
import { healthOf, loadTenantRows, overviewPage, parseOverviewQuery, type OverviewDeps } from "./overview.js";
import { confirmPage, errorPage, runPage, runPageUrl, signInPage, tenantPage, tenantsPage, tenantUrl, type AuditView } from "./pages.js";

/** Audit entries a tenant page shows at a time (older ones a link away). */
const AUDIT_ROWS = 50;

/*
 * The status page's use cases: each takes the request's parts, calls the same use cases as the run API and the CLI
 * (status, runs, plans, queueRun, unquarantine) and answers with a page. src/functions/ui*.ts are its triggers.
 */

/** The adapters the status page needs; the App satisfies it. */
export type UiDeps = OverviewDeps & StatusDeps & StartDeps & PlanDeps & Pick<SchedulerDeps, "health"> & ActionDeps & ListAuditDeps & { settings: Settings; log: Logger };

/** An answer of the status page, independent of the Functions types. */
export interface UiResponse {
  status: number;
  html?: string;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** The request as the page sees it: path and query for redirects, headers for access, the form of a POST. */
export interface UiRequest extends AccessRequest {
  /** Path and query, e.g. `/api/ui?filter=failing`. */
  pathAndQuery: string;
  query: URLSearchParams;
}

/**
 * Security headers of every answer: a Content-Security-Policy without inline scripts or styles (the stylesheet is a
 * file of the app, there is no script at all), no framing, no caching of customer data, no sniffing.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
});

const HTML = "text/html; charset=utf-8";
const page = (status: number, body: string, headers: Record<string, string> = {}): UiResponse => ({ status, html: body, headers });
const redirect = (location: string, headers: Record<string, string> = {}): UiResponse => ({ status: 303, headers: { Location: location, ...headers } });

const STATUS_BY_CODE: Record<string, number> = { INPUT_INVALID: 400, CONFIG_INVALID: 400, TENANT_NOT_FOUND: 404, RUN_NOT_FOUND: 404, PLAN_NOT_FOUND: 404, RUN_IN_PROGRESS: 409, HOLD_NOT_PENDING: 409 };

/** Any error as a page saying what to do (4xx for bad input, 503/500 for ours). */
export function errorResponse(e: unknown, operator?: Operator): UiResponse {
  const err = toEntraSyncError(e);
  const status = STATUS_BY_CODE[err.code] ?? (err.retryable ? 503 : 500);
  let message = err.message;
  if (err.code === "RUN_IN_PROGRESS" && typeof err.details?.activeRunId === "string") message += ` Follow it at ${runPageUrl(String(err.details.tenantId), err.details.activeRunId)}.`;
  return page(status, errorPage(status, err.code, message, operator));
}

/** Runs `fn` for a signed-in operator; otherwise the way to sign in (a redirect), or why not. */
export async function asOperator(deps: Pick<UiDeps, "settings" | "clock">, req: UiRequest, fn: (operator: Operator) => Promise<UiResponse>): Promise<UiResponse> {
  const a = authenticate(deps.settings, req, deps.clock(), req.pathAndQuery);
  if (!a.ok) {
    if (a.signIn && req.header("sec-fetch-mode") !== "cors") return redirect(a.signIn);
    return page(a.status, errorPage(a.status, a.status === 503 ? "CONFIG_INVALID" : "UNAUTHORIZED", a.reason));
  }
  try {
    return await fn(a.operator);
  } catch (e) {
    return errorResponse(e, a.operator);
  }
}

/** `GET /api/ui`: every tenant at a glance. */
export async function tenantsView(deps: UiDeps, req: UiRequest): Promise<UiResponse> {
  return asOperator(deps, req, async (op) => {
    const query = parseOverviewQuery(req.query.entries());
    return page(200, tenantsPage(overviewPage(await loadTenantRows(deps), query), op));
  });
}

const NOTICES: Record<string, string> = {
  unquarantined: "The quarantine is lifted: the scheduler runs the tenant again at its next slot.",
  "not-quarantined": "The tenant was not quarantined; its failures and backoff are cleared.",
};

/** `GET /api/ui/tenants/{tenantId}`: one tenant: run history and chart, last report, current plan, errors. */
export async function tenantView(deps: UiDeps, req: UiRequest, tenantIdParam: unknown): Promise<UiResponse> {
  return asOperator(deps, req, async (op) => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const [status] = await listTenantStatuses(deps, tenantId);
    const [tenant, runs, tokens] = await Promise.all([deps.tenants.require(tenantId), showRuns(deps, tenantId, 50), deps.scimTokens.list(tenantId)]);
    // The held run, with its numbers and preview (usually among the recent runs; else read on its own).
    const holdRunId = status!.hold?.runId;
    const held = holdRunId ? (runs.find((r) => r.runId === holdRunId) ?? (await showRun(deps, tenantId, holdRunId).catch(() => undefined))) : undefined;
    const pending = status!.lastRun?.planPending;
    let plan: { runId: string; entries: Awaited<ReturnType<typeof showRunPlan>> } | { runId: string; error: string } | null = null;
    if (pending) {
      try {
        plan = { runId: pending.runId, entries: await showRunPlan(deps, tenantId, pending.runId) };
      } catch (e) {
        plan = { runId: pending.runId, error: toEntraSyncError(e).message };
      }
    }
    const notice = NOTICES[req.query.get("notice") ?? ""];
    const filter = { user: req.query.get("auditUser") ?? "", run: req.query.get("auditRun") ?? "", since: req.query.get("auditSince") ?? "" };
    let audit: AuditView;
    try {
      const a = await listAudit(deps, { tenantId, userId: filter.user, runId: filter.run, since: filter.since, limit: AUDIT_ROWS, continuation: req.query.get("auditFrom") });
      audit = { filter, entries: a.entries, continuation: a.continuation };
    } catch (e) {
      const err = toEntraSyncError(e);
      if (err.code !== "INPUT_INVALID") throw e;
      audit = { filter, entries: [], error: err.message };
    }
    return page(200, tenantPage({ status: status!, tenant, health: healthOf(status!), scimOn: tokens.length > 0, runs, plan, audit, notice, held }, op));
  });
}

/** `GET /api/ui/tenants/{tenantId}/runs/{runId}`: the full report of one run. */
export async function runView(deps: UiDeps, req: UiRequest, tenantIdParam: unknown, runIdParam: unknown): Promise<UiResponse> {
  return asOperator(deps, req, async (op) => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const report = await showRun(deps, tenantId, parseRunId(runIdParam));
    const notice = req.query.get("queued") === "1" ? `Queued${report.approves ? `: it applies the changes of held run ${report.approves}, which records you as its approver` : ""}. The worker picks it up from the queue.` : undefined;
    return page(200, runPage(report, op, notice));
  });
}

/** `GET /api/ui/tenants/{tenantId}/runs/{runId}/plan`: the run's Immutable ID plan as CSV (the API's export). */
export async function planExport(deps: UiDeps, req: UiRequest, tenantIdParam: unknown, runIdParam: unknown): Promise<UiResponse> {
  return asOperator(deps, req, async () => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const runId = parseRunId(runIdParam);
    const entries = await showRunPlan(deps, tenantId, runId);
    return { status: 200, text: planToCsv(entries), contentType: "text/csv; charset=utf-8", headers: { "Content-Disposition": `attachment; filename="plan-${runId}.csv"` } };
  });
}

const purposeOf = (tenantId: string, action: string, arg: string) => `${tenantId}|${action}|${arg}`;

/** `GET /api/ui/tenants/{tenantId}/confirm/{action}[?plan=R]`: the confirmation step (shows, changes nothing). */
export async function confirmView(deps: UiDeps, req: UiRequest, tenantIdParam: unknown, actionParam: unknown): Promise<UiResponse> {
  return asOperator(deps, req, async (op) => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const { action, arg } = parseAction(actionParam, req.query.get(argFieldOf(actionParam)));
    const tenant = await deps.tenants.require(tenantId);
    const plan = action === "force-plan" ? await showRunPlan(deps, tenantId, arg) : undefined;
    // Approving: the held run's numbers and preview are what the operator confirms (RUN_NOT_FOUND for another tenant's run).
    const held = action === "approve" ? await showRun(deps, tenantId, arg) : undefined;
    const token = confirmToken(deps.settings, op, purposeOf(tenantId, action, arg), deps.clock());
    return page(200, confirmPage({ tenant, action, arg, token, plan, held }, op));
  });
}

/** `POST /api/ui/tenants/{tenantId}/actions/{action}`: a confirmed action, through the API's and CLI's use cases. */
export async function actionSubmit(deps: UiDeps, req: UiRequest, tenantIdParam: unknown, actionParam: unknown, form: URLSearchParams): Promise<UiResponse> {
  return asOperator(deps, req, async (op) => {
    const tenantId = parseGuid(tenantIdParam, "tenantId");
    const { action, arg } = parseAction(actionParam, form.get(argFieldOf(actionParam)));
    if (!checkConfirmToken(deps.settings, op, purposeOf(tenantId, action, arg), form.get("confirm") ?? "", deps.clock())) {
      const d = describeAction(action, tenantId, arg);
      return page(403, errorPage(403, "CONFIRMATION_INVALID", `The confirmation of "${d.title}" is missing, expired or was made for another action or operator: nothing was done. Open the action from the tenant's page again and confirm it there.`, op));
    }
    const outcome = await performAction(deps, tenantId, action, arg, op.name);
    // Who did what from the page, in the app's log (the run itself records its trigger and, forced, its plan).
    deps.log.info(`status page: ${op.name} (${op.id}) ${action}${arg ? ` ${arg}` : ""} on tenant ${tenantId} → ${outcome.kind === "run" ? `run ${outcome.runId} queued` : outcome.wasQuarantined ? "quarantine lifted" : "failures cleared"}`);
    if (outcome.kind === "run") return redirect(`${runPageUrl(tenantId, outcome.runId)}?queued=1`);
    return redirect(`${tenantUrl(tenantId)}?notice=${outcome.wasQuarantined ? "unquarantined" : "not-quarantined"}`);
  });
}

/** `GET /api/ui/sign-in`: the local sign-in form (STATUS_PAGE_AUTH=local). */
export function signInView(deps: Pick<UiDeps, "settings">, req: UiRequest): UiResponse {
  if (deps.settings.statusPage.auth !== "local") return redirect(`/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(UI_BASE)}`);
  return page(200, signInPage(safeNext(req.query.get("next"))));
}

/** `POST /api/ui/sign-in`: checks the key; a session cookie and back to where the operator was going. */
export function signInSubmit(deps: Pick<UiDeps, "settings" | "clock">, req: UiRequest, form: URLSearchParams): UiResponse {
  const next = safeNext(form.get("next"));
  const r = signIn(deps.settings, req, form.get("key") ?? "", deps.clock());
  if (!r.ok) return page(401, signInPage(next, r.reason));
  return redirect(next, { "Set-Cookie": r.setCookie });
}

/** Only a path of the status page itself: never an open redirect. */
function safeNext(v: string | null): string {
  return v && v.startsWith(`${UI_BASE}`) && !v.startsWith("//") && !/[\\\r\n]/.test(v) ? v : UI_BASE;
}

function parseRunId(v: unknown): string {
  if (typeof v !== "string" || !/^[0-9]{13}-[0-9a-f]{8}$/.test(v))
    throw new EntraSyncError("INPUT_INVALID", `The run id must look like 8246183918321-1a2b3c4d, got ${JSON.stringify(typeof v === "string" ? v.slice(0, 60) : v)}.`, { field: "runId", retryable: false });
  return v;
}

export { HTML as HTML_CONTENT_TYPE };
