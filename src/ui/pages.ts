import type { StoredAuditEntry } from "../audit/entry.js";
import type { PlanEntry } from "../immutable-id/plan.js";
import type { RunReport } from "../runs/report.js";
import type { TenantStatus } from "../runs/status.js";
import type { Tenant } from "../tenants/model.js";
import { UI_BASE, type Operator } from "./access.js";
import { argFieldOf, describeAction, type UiAction } from "./actions.js";
import { runChart } from "./chart.js";
import { html, toDocument, type Html } from "./html.js";
import { FILTERS, PAGE_SIZES, SORT_KEYS, type Health, type OverviewPage, type OverviewQuery, type SortKey, type TenantRow } from "./overview.js";

/** The stylesheet's URL (served by the app: no inline style anywhere). */
export const STYLESHEET = `${UI_BASE}/assets/status.css`;

const fmt = (n: number | undefined) => (n ?? 0).toLocaleString("en-US");
const when = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "—");

export const tenantUrl = (tenantId: string) => `${UI_BASE}/tenants/${tenantId}`;
export const runPageUrl = (tenantId: string, runId: string) => `${UI_BASE}/tenants/${tenantId}/runs/${runId}`;
export const planCsvUrl = (tenantId: string, runId: string) => `${UI_BASE}/tenants/${tenantId}/runs/${runId}/plan`;
export const confirmUrl = (tenantId: string, action: UiAction, arg = "") => `${UI_BASE}/tenants/${tenantId}/confirm/${action}${arg ? `?${argFieldOf(action)}=${encodeURIComponent(arg)}` : ""}`;
export const actionUrl = (tenantId: string, action: UiAction) => `${UI_BASE}/tenants/${tenantId}/actions/${action}`;

function layout(title: string, operator: Operator | undefined, body: Html, o: { refreshSeconds?: number } = {}): string {
  return toDocument(html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      ${o.refreshSeconds ? html`<meta http-equiv="refresh" content=${String(o.refreshSeconds)} />` : null}
      <title>${title} · entra-sync</title>
      <link rel="stylesheet" href=${STYLESHEET} />
    </head>
    <body>
      <header class="top">
        <a class="brand" href=${UI_BASE}>entra-sync</a>
        <span class="muted">status</span>
        ${operator ? html`<span class="who">${operator.name}</span>` : null}
      </header>
      <main>${body}</main>
    </body>
  </html>`);
}

const HEALTH_LABEL: Record<Health, string> = { healthy: "healthy", held: "held", failing: "failing", quarantined: "quarantined", disabled: "disabled" };
const badge = (h: Health) => html`<span class=${`badge badge-${h}`}>${HEALTH_LABEL[h]}</span>`;
const statusBadge = (s: string) => html`<span class=${`badge run-${s}`}>${s}</span>`;

function secretCell(s: TenantStatus["secret"], auth?: TenantStatus["auth"]): Html {
  // A federated tenant signs in with the platform's app: it has no secret to expire.
  if (auth === "federated") return html`<span class="muted" data-auth="federated">none (federated)</span>`;
  if (!s) return html`<span class="muted">unknown</span>`;
  const cls = s.daysLeft < 0 ? "bad" : s.daysLeft <= 30 ? "warn" : "";
  return html`<span class=${cls} title=${`expires ${s.expiresOn.slice(0, 10)}${s.source ? ` (from ${s.source})` : ""}`}>${s.daysLeft < 0 ? `expired ${-s.daysLeft} d ago` : `${s.daysLeft} d`}${s.mismatch ? " ⚠" : ""}</span>`;
}

function planCell(r: TenantRow): Html {
  const p = r.status.lastRun?.planPending;
  if (!p) return html`<span class="muted">—</span>`;
  return html`<a href=${runPageUrl(r.status.tenantId, p.runId)}>${fmt(p.planned - p.written)} to write${p.capExceeded ? " (over cap)" : ""}</a>`;
}

function listHref(q: OverviewQuery, change: Partial<OverviewQuery>): string {
  const next = { ...q, ...change };
  const p = new URLSearchParams();
  if (next.q) p.set("q", next.q);
  if (next.filter !== "all") p.set("filter", next.filter);
  p.set("sort", next.sort);
  p.set("dir", next.dir);
  if (next.size !== 50) p.set("size", String(next.size));
  if (next.page > 1) p.set("page", String(next.page));
  return `${UI_BASE}?${p.toString()}`;
}

function sortHeader(q: OverviewQuery, key: SortKey, label: string): Html {
  const active = q.sort === key;
  const dir = active && q.dir === "asc" ? "desc" : "asc";
  return html`<th aria-sort=${active ? (q.dir === "asc" ? "ascending" : "descending") : "none"}>
    <a href=${listHref(q, { sort: key, dir, page: 1 })}>${label}${active ? (q.dir === "asc" ? " ▲" : " ▼") : ""}</a>
  </th>`;
}

const FILTER_LABEL: Record<(typeof FILTERS)[number], string> = {
  all: "all",
  healthy: "healthy",
  held: "held for approval",
  failing: "failing",
  quarantined: "quarantined",
  expiring: "secret expiring",
  planPending: "plan pending",
  scim: "SCIM on",
};

/** The tenants at a glance: counts on top, then a filtered, sorted page of the list. */
export function tenantsPage(p: OverviewPage, operator: Operator): string {
  const q = p.query;
  const c = p.counts;
  const body = html`
    <h1>Tenants</h1>
    <section class="counts" aria-label="counts">
      <a class="count" href=${listHref(q, { filter: "healthy", page: 1 })}><b data-count="healthy">${fmt(c.healthy)}</b> healthy</a>
      <a class="count" href=${listHref(q, { filter: "held", page: 1 })}><b data-count="held">${fmt(c.held)}</b> held for approval</a>
      <a class="count" href=${listHref(q, { filter: "failing", page: 1 })}><b data-count="failing">${fmt(c.failing)}</b> failing</a>
      <a class="count" href=${listHref(q, { filter: "quarantined", page: 1 })}><b data-count="quarantined">${fmt(c.quarantined)}</b> quarantined</a>
      <a class="count" href=${listHref(q, { filter: "expiring", page: 1 })}><b data-count="expiring">${fmt(c.secretsExpiring)}</b> secrets expiring within 30 days</a>
      <span class="count muted">${fmt(c.tenants)} tenants</span>
    </section>
    <form class="filters" method="get" action=${UI_BASE}>
      <label>Search <input type="search" name="q" value=${q.q} placeholder="name or tenant id" /></label>
      <label>Show <select name="filter">${FILTERS.map((f) => html`<option value=${f} selected=${f === q.filter}>${FILTER_LABEL[f]}</option>`)}</select></label>
      <label>Sort <select name="sort">${SORT_KEYS.map((k) => html`<option value=${k} selected=${k === q.sort}>${k}</option>`)}</select></label>
      <label>Order <select name="dir"><option value="asc" selected=${q.dir === "asc"}>ascending</option><option value="desc" selected=${q.dir === "desc"}>descending</option></select></label>
      <label>Per page <select name="size">${PAGE_SIZES.map((s) => html`<option value=${String(s)} selected=${s === q.size}>${s}</option>`)}</select></label>
      <button type="submit">Apply</button>
    </form>
    <p class="muted">${fmt(p.matching)} match · page ${q.page} of ${p.pages}</p>
    <table class="tenants">
      <thead>
        <tr>
          ${sortHeader(q, "name", "Tenant")} ${sortHeader(q, "health", "Health")} ${sortHeader(q, "lastRun", "Last run")} ${sortHeader(q, "nextRun", "Next run")}
          ${sortHeader(q, "failures", "Failures")} <th>Quarantine</th> ${sortHeader(q, "secret", "Secret")} ${sortHeader(q, "mode", "Immutable ID")} <th>Plan</th> <th>SCIM</th>
        </tr>
      </thead>
      <tbody>
        ${p.rows.map((r) => {
          const s = r.status;
          return html`<tr data-tenant=${s.tenantId}>
            <td><a href=${tenantUrl(s.tenantId)}>${s.displayName}</a><div class="id">${s.tenantId}</div></td>
            <td>${badge(r.health)}${s.activeRun ? html` <span class="badge run-running">${s.activeRun.state}</span>` : null}</td>
            <td>${s.lastRun ? html`<a href=${runPageUrl(s.tenantId, s.lastRun.runId)}>${statusBadge(s.lastRun.status)}</a> ${when(s.lastRun.endedAt)}` : html`<span class="muted">never</span>`}</td>
            <td>${s.nextRunAt ? when(s.nextRunAt) : html`<span class="muted">not scheduled</span>`}</td>
            <td class="num">${s.consecutiveFailures}</td>
            <td>${s.quarantined ? html`<span class="bad">quarantined</span>` : html`<span class="muted">no</span>`}</td>
            <td>${secretCell(s.secret, s.auth)}</td>
            <td>${r.immutableIdMode}</td>
            <td>${planCell(r)}</td>
            <td>${r.scim.on ? "on" : html`<span class="muted">off</span>`}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    <nav class="pager" aria-label="pages">
      ${q.page > 1 ? html`<a rel="prev" href=${listHref(q, { page: q.page - 1 })}>← previous</a>` : null}
      ${q.page < p.pages ? html`<a rel="next" href=${listHref(q, { page: q.page + 1 })}>next →</a>` : null}
    </nav>`;
  return layout("Tenants", operator, body);
}

function countsTable(r: RunReport): Html {
  const u = r.update;
  const cells: Array<[string, number | undefined]> = [
    ["read", u.read],
    ["matched", u.matched],
    ["updated", u.updated],
    ["unchanged", u.unchanged],
    ["unmatched", u.unmatched],
    ["ambiguous", u.ambiguous],
    ["removed", u.removed],
    ["failed", u.failed],
  ];
  if (u.indexRepaired !== undefined) cells.push(["indexRepaired", u.indexRepaired]);
  return html`<dl class="counts-grid">${cells.map(([k, v]) => html`<div><dt>${k}</dt><dd data-field=${`update.${k}`}>${fmt(v)}</dd></div>`)}</dl>`;
}

function immutableIdBlock(r: RunReport): Html {
  const i = r.immutableId;
  if (!i) return null;
  const reasons = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${fmt(n)}`)
      .join(", ") || "none";
  return html`<h3>Immutable ID sync</h3>
    <dl class="counts-grid">
      <div><dt>candidates</dt><dd>${fmt(i.candidates)}</dd></div>
      <div><dt>planned</dt><dd data-field="immutableId.planned">${fmt(i.planned)}</dd></div>
      <div><dt>written</dt><dd data-field="immutableId.written">${fmt(i.written)}</dd></div>
    </dl>
    <p>skipped: ${reasons(i.skipped)} · failed: ${reasons(i.failed)}</p>
    ${i.capExceeded ? html`<p class="warn">Over the cap: ${fmt(i.capExceeded.planned)} planned, cap ${fmt(i.capExceeded.cap ?? i.capExceeded.maxWrites)} (${i.capExceeded.maxWrites} writes, ${i.capExceeded.maxPercent} % of ${fmt(i.capExceeded.tenantUsers)} users). Nothing was written: review the plan, then force it.</p>` : null}
    ${i.planning ? html`<p class="muted">planning: ${i.planning.kind}${i.planning.reason ? ` (${i.planning.reason})` : ""}${i.planning.evaluated !== undefined ? `, ${fmt(i.planning.evaluated)} users evaluated` : ""}</p>` : null}
    ${i.plan ? html`<p>Plan: ${fmt(i.plan.entries)} entries, stored as of run ${i.plan.runId}. <a href=${planCsvUrl(r.tenantId, r.runId)} download>Export CSV</a></p>` : null}`;
}

function errorsBlock(r: RunReport): Html {
  if (!r.failure && r.errors.length === 0) return null;
  return html`<h3>Errors</h3>
    ${r.failure ? html`<div class="error-box" data-code=${r.failure.code}><b>${r.failure.code}</b> (${r.failure.class}): ${r.failure.message}${r.failure.action ? html`<p><b>What to do:</b> ${r.failure.action}</p>` : null}</div>` : null}
    <ul class="errors">
      ${r.errors.map(
        (e) => html`<li data-code=${e.code}><b>${e.code}</b>: ${e.message}${e.users?.length ? html`<div class="id">users: ${e.users.join(", ")}${e.moreUsers ? ` and ${fmt(e.moreUsers)} more` : ""}</div>` : null}</li>`,
      )}
    </ul>
    ${r.moreErrors ? html`<p class="muted">and ${fmt(r.moreErrors)} more errors</p>` : null}`;
}

const HOLD_STATE: Record<string, string> = { pending: "waiting for approval", approved: "approved", expired: "expired" };

/**
 * What the mass-change guard held: the numbers against the thresholds, the expiry or who approved, and the preview of
 * the first changes (sensitive values arrive masked from the guard).
 */
export function holdBlock(r: RunReport): Html {
  const h = r.hold;
  if (!h) return null;
  const t = h.thresholds;
  const tripped = (k: "removals" | "changes") => (h.tripped.includes(k) ? html` <b class="bad">over</b>` : null);
  return html`<section class="hold" data-hold=${h.state}>
    <h3>Held by the mass-change guard: ${HOLD_STATE[h.state] ?? h.state}</h3>
    <p>Nothing was written and the tenant's checkpoint did not move.${t.termStart ? " The lower term-start thresholds applied." : ""}</p>
    <dl class="counts-grid">
      <div><dt>removals</dt><dd data-field="hold.removals">${fmt(h.removals)}</dd></div>
      <div><dt>threshold: removals</dt><dd>${fmt(t.removals)}${tripped("removals")}</dd></div>
      <div><dt>changes</dt><dd data-field="hold.changes">${fmt(h.changes)}</dd></div>
      <div><dt>threshold: changes</dt><dd>${t.changesPercent} % of ${h.users === null ? "the linked users" : `${fmt(h.users)} linked users`}, and over ${fmt(t.changesFloor)}${tripped("changes")}</dd></div>
      <div><dt>${h.state === "approved" ? "approved" : h.state === "expired" ? "expired" : "expires"}</dt><dd data-field="hold.expiresAt">${h.state === "approved" ? `${when(h.approvedAt)} by ${h.approvedBy ?? "?"}` : when(h.expiresAt)}</dd></div>
    </dl>
    ${h.state === "approved" && h.approvedRunId ? html`<p>Applied by run <a href=${runPageUrl(r.tenantId, h.approvedRunId)}>${h.approvedRunId}</a>.</p>` : null}
    ${h.state === "pending" ? html`<p>Approve it (<b>Review and approve held run</b>, or <code>entra-sync runs approve ${r.runId}</code>) before ${when(h.expiresAt)}; unapproved, it expires and the next scheduled run reads the changes again and decides afresh. Scheduled runs of the tenant wait meanwhile.</p>` : null}
    ${h.state === "expired" ? html`<p class="muted">Expired unapproved: the next scheduled run reads the changes again and the guard decides afresh.</p>` : null}
    <h3>Preview: the first ${fmt(h.preview.length)} of ${fmt(h.changes)} changes</h3>
    <table class="hold-preview">
      <thead><tr><th>Platform user</th><th>Entra object id</th><th>Change</th><th>Attribute: old → new</th></tr></thead>
      <tbody>
        ${h.preview.map(
          (p) => html`<tr data-kind=${p.kind}>
            <td>${p.platformUserId}</td>
            <td class="id">${p.entraId}</td>
            <td>${p.kind === "remove" ? html`<span class="bad">removed in Entra</span>` : "update"}</td>
            <td>${p.changes.map((c) => html`<div><b>${c.attribute}</b>: ${c.old ?? "∅"} → ${c.new ?? "∅"}</div>`)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** A run report laid out for reading (the run page shows it whole, the tenant page its last run). */
export function reportBlock(r: RunReport, o: { hold?: boolean } = {}): Html {
  return html`<section class="report" data-run=${r.runId}>
    <p>
      ${statusBadge(r.status)} ${r.trigger} · ${r.mode}${r.dryRun ? " · dry run" : ""} · steps: ${r.only.join(", ")}${r.forcePlan ? ` · force plan ${r.forcePlan}` : ""}
      ${r.approves ? html` · applies held run <a href=${runPageUrl(r.tenantId, r.approves)}>${r.approves}</a>` : null}
    </p>
    <p class="muted">queued ${when(r.queuedAt)} · started ${when(r.startedAt)} · ended ${when(r.endedAt)}${r.durationMs !== undefined ? ` · ${(r.durationMs / 1000).toFixed(1)} s` : ""} · pages ${r.progress.pages} · invocations ${r.progress.invocations}</p>
    ${r.waiting ? html`<p class="warn">Waiting for a full-read slot: position ${r.waiting.position}${r.waiting.atLeast ? " or later" : ""}, ${r.waiting.inUse} of ${r.waiting.limit} in use, since ${when(r.waiting.since)}.</p>` : null}
    <h3>Update sync</h3>
    ${countsTable(r)} ${o.hold === false ? null : holdBlock(r)} ${immutableIdBlock(r)}
    <p class="muted">graph: ${fmt(r.graph.requests)} requests, ${fmt(r.graph.throttled)} throttled, ${fmt(r.graph.retried)} retried${r.metrics ? ` · cost: ${fmt(r.metrics.tableRequests)} table requests, ${fmt(r.metrics.tableRowsRead)} rows read, ${fmt(r.metrics.cpuMs)} ms CPU, peak RSS ${fmt(r.metrics.peakRssMb)} MB` : ""}</p>
    ${errorsBlock(r)}
    ${r.notices.length ? html`<h3>Notices</h3><ul>${r.notices.map((n) => html`<li>${n}</li>`)}</ul>${r.moreNotices ? html`<p class="muted">and ${fmt(r.moreNotices)} more</p>` : null}` : null}
  </section>`;
}

function actionButtons(s: TenantStatus, tenant: Tenant): Html {
  const p = s.lastRun?.planPending;
  return html`<nav class="actions" aria-label="actions">
    ${s.hold?.state === "pending" ? html`<a class="button primary" href=${confirmUrl(s.tenantId, "approve", s.hold.runId)}>Review and approve held run</a>` : null}
    <a class="button" href=${confirmUrl(s.tenantId, "run")}>Run now</a>
    <a class="button" href=${confirmUrl(s.tenantId, "run-full")}>Full run</a>
    <a class="button" href=${confirmUrl(s.tenantId, "dry-run")}>Dry run</a>
    ${s.quarantined || s.consecutiveFailures > 0 ? html`<a class="button" href=${confirmUrl(s.tenantId, "unquarantine")}>Unquarantine</a>` : null}
    ${p && tenant.immutableId.mode === "on" ? html`<a class="button primary" href=${confirmUrl(s.tenantId, "force-plan", p.runId)}>Review and force plan</a>` : null}
  </nav>`;
}

/** The audit log section of a tenant page: its filters, the page asked for, and what to do with a bad filter. */
export interface AuditView {
  filter: { user: string; run: string; since: string };
  entries: StoredAuditEntry[];
  continuation?: string | undefined;
  error?: string | undefined;
}

function auditHref(tenantId: string, f: AuditView["filter"], from?: string): string {
  const p = new URLSearchParams();
  if (f.user) p.set("auditUser", f.user);
  if (f.run) p.set("auditRun", f.run);
  if (f.since) p.set("auditSince", f.since);
  if (from) p.set("auditFrom", from);
  return `${tenantUrl(tenantId)}?${p.toString()}#audit`;
}

function auditSection(tenantId: string, a: AuditView): Html {
  const f = a.filter;
  return html`<h2 id="audit">Audit log</h2>
    <p class="muted">Every change written into the platform directory and into Entra for this tenant, newest first (the same listing as <code>entra-sync audit --tenant ${tenantId}</code>).</p>
    <form class="filters" method="get" action=${tenantUrl(tenantId)}>
      <label>User <input type="text" name="auditUser" value=${f.user} placeholder="platform user or Entra object id" /></label>
      <label>Run <input type="text" name="auditRun" value=${f.run} placeholder="run id" /></label>
      <label>Since <input type="text" name="auditSince" value=${f.since} placeholder="YYYY-MM-DD" /></label>
      <button type="submit">Filter</button>
    </form>
    ${a.error
      ? html`<p class="error-box" role="alert">${a.error}</p>`
      : a.entries.length === 0
        ? html`<p class="muted">No entries${f.user || f.run || f.since ? " match" : ""}.</p>`
        : html`<table class="audit">
            <thead><tr><th>When</th><th>Run</th><th>Source</th><th>Target</th><th>User</th><th>Attribute: old → new</th><th>Outcome</th></tr></thead>
            <tbody>
              ${a.entries.map(
                (e) => html`<tr data-audit-run=${e.runId ?? ""}>
                  <td>${when(e.at)}</td>
                  <td>${e.runId ? html`<a href=${runPageUrl(tenantId, e.runId)}>${e.runId}</a>` : "—"}</td>
                  <td>${e.source}</td>
                  <td>${e.target}</td>
                  <td class="id">${e.userId}${e.entraId && e.entraId !== e.userId ? html`<br />${e.entraId}` : null}</td>
                  <td>${e.changes.map((c) => html`<div><b>${c.attribute}</b>: ${c.old ?? "∅"} → ${c.new ?? "∅"}</div>`)}</td>
                  <td>${e.outcome === "failed" ? html`<span class="bad" title=${e.reason ?? ""}>failed</span>` : "applied"}</td>
                </tr>`,
              )}
            </tbody>
          </table>
          ${a.continuation ? html`<nav class="pager"><a rel="next" href=${auditHref(tenantId, f, a.continuation)}>older entries →</a></nav>` : null}`}`;
}

/** Run history with its chart, the last report, the current Immutable ID plan, the audit log, errors with what to do. */
export function tenantPage(
  o: {
    status: TenantStatus;
    tenant: Tenant;
    health: Health;
    scimOn: boolean;
    runs: RunReport[];
    plan: { runId: string; entries: PlanEntry[] } | { runId: string; error: string } | null;
    audit: AuditView;
    notice?: string | undefined;
    /** The run the guard holds (status `hold`), with its numbers and preview. */
    held?: RunReport | undefined;
  },
  operator: Operator,
): string {
  const s = o.status;
  const last = o.runs[0];
  const f = s.lastFailure;
  const body = html`
    <p><a href=${UI_BASE}>← all tenants</a></p>
    <h1>${s.displayName} ${badge(o.health)}</h1>
    <p class="id">${s.tenantId}</p>
    ${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : null}
    ${actionButtons(s, o.tenant)}
    <dl class="facts">
      <div><dt>Last run</dt><dd>${s.lastRun ? html`${statusBadge(s.lastRun.status)} ${when(s.lastRun.endedAt)}` : "never"}</dd></div>
      <div><dt>Running now</dt><dd>${s.activeRun ? html`<a href=${runPageUrl(s.tenantId, s.activeRun.runId)}>${s.activeRun.state}</a>` : "no"}</dd></div>
      <div><dt>Next run</dt><dd>${s.nextRunAt ? when(s.nextRunAt) : "not scheduled"}</dd></div>
      <div><dt>Interval</dt><dd>${s.syncIntervalMinutes} min${s.enabled ? "" : " (disabled)"}</dd></div>
      <div><dt>Consecutive failures</dt><dd data-field="consecutiveFailures">${s.consecutiveFailures}</dd></div>
      <div><dt>Backoff until</dt><dd>${when(s.backoffUntil)}</dd></div>
      <div><dt>Quarantine</dt><dd data-field="quarantined">${s.quarantined ? "quarantined" : "no"}</dd></div>
      <div><dt>Secret</dt><dd>${secretCell(s.secret, s.auth)}${s.secret ? ` · expires ${s.secret.expiresOn.slice(0, 10)}` : ""}</dd></div>
      <div><dt>Immutable ID</dt><dd>${o.tenant.immutableId.mode} · source ${o.tenant.immutableId.source} · ${o.tenant.immutableId.encoding} · cap ${o.tenant.immutableId.maxWritesPerRun} / ${o.tenant.immutableId.maxPercentPerRun} %</dd></div>
      <div><dt>SCIM</dt><dd>${o.scimOn ? "on" : "off"}</dd></div>
    </dl>
    ${s.quarantined && s.quarantineReason ? html`<div class="error-box"><b>Quarantined.</b> ${s.quarantineReason}</div>` : null}
    ${f ? html`<div class="error-box" data-code=${f.code}><b>${f.code}</b> (${f.class}, ${when(f.at)}): ${f.message}<p><b>What to do:</b> ${f.action}</p></div>` : null}
    ${s.hold ? holdSummary(s, o.held) : null}
    ${s.abandonedRun ? html`<div class="error-box">Run ${s.abandonedRun.runId} stopped without finishing (lease expired ${when(s.abandonedRun.leaseExpiredAt)}). Nothing to do: the next run resumes from the checkpoint.</div>` : null}
    <h2>Runs</h2>
    ${runChart(o.runs)}
    <table class="runs">
      <thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Mode</th><th>Queued</th><th class="num">Read</th><th class="num">Updated</th><th class="num">Failed</th><th class="num">ImmutableIds written</th></tr></thead>
      <tbody>
        ${o.runs.map(
          (r) => html`<tr>
            <td><a href=${runPageUrl(r.tenantId, r.runId)}>${r.runId}</a></td>
            <td>${statusBadge(r.status)}</td>
            <td>${r.trigger}</td>
            <td>${r.mode}${r.dryRun ? " (dry)" : ""}</td>
            <td>${when(r.queuedAt)}</td>
            <td class="num">${fmt(r.update.read)}</td>
            <td class="num">${fmt(r.update.updated)}</td>
            <td class="num">${fmt(r.update.failed)}</td>
            <td class="num">${r.immutableId ? fmt(r.immutableId.written) : "—"}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${o.plan ? planSection(s.tenantId, o.plan, o.tenant.immutableId.mode) : null}
    ${last ? html`<h2>Last report</h2>${reportBlock(last, { hold: last.runId !== o.held?.runId })}` : null}
    ${auditSection(s.tenantId, o.audit)}`;
  return layout(s.displayName, operator, body);
}

/** A tenant's hold on its page: what is held and until when, and the held run's numbers and preview. */
function holdSummary(s: TenantStatus, held: RunReport | undefined): Html {
  const h = s.hold!;
  return html`<div class=${h.state === "pending" ? "hold-box" : "notice"} data-hold-run=${h.runId}>
      <b>${h.state === "pending" ? "Held for approval" : "Hold expired"}.</b> Run <a href=${runPageUrl(s.tenantId, h.runId)}>${h.runId}</a>: ${fmt(h.removals)} removals, ${fmt(h.changes)} changes
      (over the ${h.tripped.join(" and ")} threshold${h.tripped.length > 1 ? "s" : ""}); ${h.state === "pending" ? `expires ${when(h.expiresAt)}` : `expired ${when(h.expiresAt)}`}.
      <p>${h.action}</p>
    </div>
    ${held ? holdBlock(held) : null}`;
}

const PLAN_ROWS_SHOWN = 200;

function planTable(entries: readonly PlanEntry[]): Html {
  return html`<table class="plan">
      <thead><tr><th>User (UPN)</th><th>Entra object id</th><th>ImmutableId to write</th><th>Platform user</th><th>Action</th></tr></thead>
      <tbody>
        ${entries.slice(0, PLAN_ROWS_SHOWN).map((e) => html`<tr><td>${e.userPrincipalName}</td><td class="id">${e.entraId}</td><td class="id">${e.value}</td><td>${e.platformUserId}</td><td>${e.action}</td></tr>`)}
      </tbody>
    </table>
    ${entries.length > PLAN_ROWS_SHOWN ? html`<p class="muted">${fmt(PLAN_ROWS_SHOWN)} of ${fmt(entries.length)} entries shown: export the CSV for all.</p>` : null}`;
}

function planSection(tenantId: string, plan: { runId: string; entries: PlanEntry[] } | { runId: string; error: string }, mode: string): Html {
  return html`<h2>Current Immutable ID plan</h2>
    ${"error" in plan
      ? html`<p class="warn">${plan.error}</p>`
      : html`<p>Run <a href=${runPageUrl(tenantId, plan.runId)}>${plan.runId}</a> planned <b data-field="plan.entries">${fmt(plan.entries.length)}</b> writes. <a href=${planCsvUrl(tenantId, plan.runId)} download>Export CSV</a>
            ${mode === "on" ? null : html` · The tenant is in mode ${mode}: switch it to on with <code>entra-sync tenant update ${tenantId} --immutable-id-mode on</code> before forcing a plan.`}</p>
          ${planTable(plan.entries)}`}`;
}

/** A run with its full report (the JSON the API gives, too); refreshes itself while the run is queued or running. */
export function runPage(r: RunReport, operator: Operator, notice?: string): string {
  const live = r.status === "queued" || r.status === "running";
  const body = html`
    <p><a href=${tenantUrl(r.tenantId)}>← ${r.tenantName}</a></p>
    <h1>Run ${r.runId}</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    ${r.hold?.state === "pending" ? html`<nav class="actions" aria-label="actions"><a class="button primary" href=${confirmUrl(r.tenantId, "approve", r.runId)}>Review and approve held run</a></nav>` : null}
    ${live ? html`<p class="muted">This page reloads every 3 seconds while the run is ${r.status}.</p>` : null}
    ${reportBlock(r)}
    <p><a href=${`${tenantUrl(r.tenantId)}?auditRun=${r.runId}#audit`}>The audit log of this run</a></p>
    <details>
      <summary>The whole report (JSON, as the API returns it)</summary>
      <pre>${JSON.stringify(r, null, 2)}</pre>
    </details>`;
  return layout(`Run ${r.runId}`, operator, body, live ? { refreshSeconds: 3 } : {});
}

/** The confirmation step of an action: what it does, the CLI equivalent, and (forcing a plan) the plan itself. */
export function confirmPage(o: { tenant: Tenant; action: UiAction; arg: string; token: string; plan?: PlanEntry[] | undefined; held?: RunReport | undefined }, operator: Operator): string {
  const d = describeAction(o.action, o.tenant.displayName, o.arg);
  const body = html`
    <p><a href=${tenantUrl(o.tenant.tenantId)}>← ${o.tenant.displayName}</a></p>
    <h1>${d.title}?</h1>
    <p>${d.consequence}</p>
    <p class="muted">The same as <code>${d.cli.split("<id>").join(o.tenant.tenantId)}</code>.</p>
    ${o.held ? html`<h2>The held run you are approving</h2>${holdBlock(o.held)}` : null}
    ${o.plan ? html`<h2>The plan you are confirming: ${fmt(o.plan.length)} entries</h2>${planTable(o.plan)}<p><a href=${planCsvUrl(o.tenant.tenantId, o.arg)} download>Export CSV</a></p>` : null}
    <form method="post" action=${actionUrl(o.tenant.tenantId, o.action)}>
      <input type="hidden" name="confirm" value=${o.token} />
      ${o.arg ? html`<input type="hidden" name=${argFieldOf(o.action)} value=${o.arg} />` : null}
      <button type="submit" class="primary">Confirm</button>
      <a class="button" href=${tenantUrl(o.tenant.tenantId)}>Cancel</a>
    </form>`;
  return layout(d.title, operator, body);
}

/** The local sign-in form (STATUS_PAGE_AUTH=local). */
export function signInPage(next: string, problem?: string): string {
  const body = html`
    <h1>Sign in</h1>
    ${problem ? html`<p class="error-box" role="alert">${problem}</p>` : null}
    <form method="post" action=${`${UI_BASE}/sign-in`} class="signin">
      <input type="hidden" name="next" value=${next} />
      <label>Status page key <input type="password" name="key" autocomplete="current-password" required /></label>
      <button type="submit" class="primary">Sign in</button>
    </form>
    <p class="muted">Local stack: the key is ENTRA_SYNC_STATUS_PAGE_KEY in .local/stack.env (npm run stack prints it).</p>`;
  return layout("Sign in", undefined, body);
}

/** An error in words an operator can act on. */
export function errorPage(status: number, code: string, message: string, operator?: Operator): string {
  return layout(`Error ${status}`, operator, html`<h1>${status === 404 ? "Not found" : status === 403 ? "Not allowed" : "Something is wrong"}</h1><p class="error-box" data-code=${code}><b>${code}</b>: ${message}</p><p><a href=${UI_BASE}>All tenants</a></p>`);
}
