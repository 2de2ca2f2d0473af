import { z } from "zod";
import { EntraSyncError } from "../errors.js";
import { tenantStatus, type StatusDeps, type TenantStatus } from "../runs/status.js";
import type { ScimTokenStore } from "../scim/tokens.js";
import { readTenantStates } from "../state/tenant-state.js";
import type { Tenant } from "../tenants/model.js";

/** The adapters the status page's tenant list needs; the App satisfies it. */
export interface OverviewDeps extends Pick<StatusDeps, "clock" | "tables" | "tenants"> {
  scimTokens: Pick<ScimTokenStore, "listAll" | "list">;
}

/** A tenant as the status page lists it: its status exactly as `GET /api/tenants` gives it, plus its settings. */
export interface TenantRow {
  status: TenantStatus;
  health: Health;
  immutableIdMode: Tenant["immutableId"]["mode"];
  /** SCIM is on while the tenant has a live Secret Token. */
  scim: { on: boolean; lastUsedAt: string | null };
}

/**
 * What the list calls a tenant's health, from its status alone. `held`: its last update was held by the mass-change
 * guard and waits for an operator's approval (scheduled runs wait too).
 */
export type Health = "healthy" | "held" | "failing" | "quarantined" | "disabled";

/** Days before a secret's expiry from which the page counts it as expiring (as the issue's "within 30 days"). */
export const EXPIRING_WITHIN_DAYS = 30;

export function healthOf(s: TenantStatus): Health {
  if (s.quarantined) return "quarantined";
  if (!s.enabled) return "disabled";
  if (s.consecutiveFailures > 0 || s.abandonedRun) return "failing";
  return s.hold?.state === "pending" ? "held" : "healthy";
}

/** Every tenant with its status (one query for registrations, one for state rows, one for SCIM tokens). */
export async function loadTenantRows(deps: OverviewDeps): Promise<TenantRow[]> {
  const now = deps.clock();
  const [tenants, states, tokens] = await Promise.all([deps.tenants.listAll(), readTenantStates(deps.tables.tenantState), deps.scimTokens.listAll()]);
  const scim = new Map<string, string | null>();
  for (const t of tokens) {
    const prev = scim.get(t.tenantId) ?? null;
    const used = t.lastUsedAt ?? null;
    scim.set(t.tenantId, prev && (!used || prev > used) ? prev : used);
  }
  return tenants.map((t) => {
    const status = tenantStatus(t, states.get(t.tenantId) ?? {}, now);
    return { status, health: healthOf(status), immutableIdMode: t.immutableId.mode, scim: { on: scim.has(t.tenantId), lastUsedAt: scim.get(t.tenantId) ?? null } };
  });
}

export const SORT_KEYS = ["name", "health", "lastRun", "nextRun", "failures", "secret", "mode"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const FILTERS = ["all", "healthy", "held", "failing", "quarantined", "expiring", "planPending", "scim"] as const;
export type Filter = (typeof FILTERS)[number];
export const PAGE_SIZES = [25, 50, 100, 200] as const;

/** The list's query parameters: `q` (name or tenant id contains), `filter`, `sort`, `dir`, `page`, `size`. */
export const overviewQuerySchema = z
  .object({
    q: z.string().max(200, "q must be at most 200 characters").default(""),
    filter: z.enum(FILTERS).default("all"),
    sort: z.enum(SORT_KEYS).default("health"),
    dir: z.enum(["asc", "desc"]).default("asc"),
    page: z.coerce.number().int().min(1).max(1_000_000).default(1),
    size: z.coerce
      .number()
      .int()
      .refine((n) => (PAGE_SIZES as readonly number[]).includes(n), `size must be one of ${PAGE_SIZES.join(", ")}`)
      .default(50),
  })
  .strict();
export type OverviewQuery = z.infer<typeof overviewQuerySchema>;

const ALLOWED: Record<string, string> = {
  filter: FILTERS.join(", "),
  sort: SORT_KEYS.join(", "),
  dir: "asc or desc",
  page: "a whole number from 1",
  size: PAGE_SIZES.join(", "),
  q: "text of at most 200 characters",
};

/** Parses the list's query parameters; INPUT_INVALID names the parameter and what it takes. */
export function parseOverviewQuery(params: Iterable<[string, string]>): OverviewQuery {
  const raw: Record<string, string> = {};
  for (const [k, v] of params) if (v !== "") raw[k] = v;
  const r = overviewQuerySchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length ? String(issue.path[0]) : String((issue as { keys?: string[] }).keys?.[0] ?? "query");
  const msg = ALLOWED[field]
    ? `The parameter ${field} is ${JSON.stringify((raw[field] ?? "").slice(0, 40))}: it takes ${ALLOWED[field]}.`
    : `Unknown parameter ${JSON.stringify(field.slice(0, 40))}: the list takes ${Object.keys(ALLOWED).join(", ")}.`;
  throw new EntraSyncError("INPUT_INVALID", msg, { field, retryable: false });
}

export interface Counts {
  tenants: number;
  healthy: number;
  /** Waiting for an operator to approve a run the mass-change guard held. */
  held: number;
  failing: number;
  quarantined: number;
  /** Secrets expiring within EXPIRING_WITHIN_DAYS days (or expired). */
  secretsExpiring: number;
}

export interface OverviewPage {
  query: OverviewQuery;
  counts: Counts;
  /** Tenants that pass the filter and the search. */
  matching: number;
  pages: number;
  rows: TenantRow[];
}

const HEALTH_ORDER: Record<Health, number> = { quarantined: 0, failing: 1, held: 2, disabled: 3, healthy: 4 };
const expiring = (r: TenantRow) => r.status.secret !== null && r.status.secret.daysLeft <= EXPIRING_WITHIN_DAYS;

function keyOf(r: TenantRow, sort: SortKey): number | string {
  const s = r.status;
  switch (sort) {
    case "name":
      return s.displayName.toLowerCase();
    case "health":
      return HEALTH_ORDER[r.health] * 1000 - Math.min(s.consecutiveFailures, 999);
    case "lastRun":
      return s.lastRun?.endedAt ?? "";
    case "nextRun":
      return s.nextRunAt ?? "~";
    case "failures":
      return s.consecutiveFailures;
    case "secret":
      return s.secret?.daysLeft ?? Number.MAX_SAFE_INTEGER;
    case "mode":
      return r.immutableIdMode;
  }
}

/** Counts, filter, search, sort and one page of the list, all on the server. */
export function overviewPage(rows: readonly TenantRow[], query: OverviewQuery): OverviewPage {
  const counts: Counts = { tenants: rows.length, healthy: 0, held: 0, failing: 0, quarantined: 0, secretsExpiring: 0 };
  for (const r of rows) {
    if (r.health === "healthy") counts.healthy++;
    else if (r.health === "held") counts.held++;
    else if (r.health === "failing") counts.failing++;
    else if (r.health === "quarantined") counts.quarantined++;
    if (expiring(r)) counts.secretsExpiring++;
  }
  const q = query.q.trim().toLowerCase();
  const pass = (r: TenantRow): boolean => {
    if (q && !r.status.displayName.toLowerCase().includes(q) && !r.status.tenantId.includes(q)) return false;
    switch (query.filter) {
      case "all":
        return true;
      case "healthy":
      case "held":
      case "failing":
      case "quarantined":
        return r.health === query.filter;
      case "expiring":
        return expiring(r);
      case "planPending":
        return !!r.status.lastRun?.planPending;
      case "scim":
        return r.scim.on;
    }
  };
  const keyed = rows.filter(pass).map((r) => ({ r, k: keyOf(r, query.sort) }));
  const sign = query.dir === "asc" ? 1 : -1;
  keyed.sort((a, b) => (a.k < b.k ? -sign : a.k > b.k ? sign : a.r.status.displayName.localeCompare(b.r.status.displayName) || a.r.status.tenantId.localeCompare(b.r.status.tenantId)));
  const pages = Math.max(1, Math.ceil(keyed.length / query.size));
  const page = Math.min(query.page, pages);
  return {
    query: { ...query, page },
    counts,
    matching: keyed.length,
    pages,
    rows: keyed.slice((page - 1) * query.size, page * query.size).map((x) => x.r),
  };
}
