import { listTenantStatuses, type StatusDeps, type TenantStatus } from "../runs/status.js";
import type { RunStore } from "../runs/store.js";
import type { TenantRegistry } from "../tenants/registry.js";
import { mailOperators, OPERATORS_SCOPE, type OperatorMailDeps, type OperatorMailOutcome } from "./mail.js";

/** What the daily digest needs (the App provides it). */
export interface DigestDeps extends OperatorMailDeps, Pick<StatusDeps, "clock" | "tables"> {
  tenants: Pick<TenantRegistry, "require" | "listAll">;
  runs: Pick<RunStore, "list">;
}

/** The digest's facts: what operators should look at today. */
export interface DigestFacts {
  date: string;
  tenants: number;
  failing: Array<Pick<TenantStatus, "tenantId" | "displayName" | "consecutiveFailures" | "quarantined"> & { code: string | undefined }>;
  secretsExpiring: Array<{ tenantId: string; displayName: string; daysLeft: number; expiresOn: string }>;
  /** Immutable ID plans over the cap, waiting for an operator to review and force them. */
  plansAwaitingReview: Array<{ tenantId: string; displayName: string; runId: string; planned: number; cap: number | undefined }>;
  /** Runs the mass-change guard held, waiting for an operator's approval (until they expire). */
  runsHeld: Array<{ tenantId: string; displayName: string; runId: string; removals: number; changes: number; expiresAt: string }>;
}

/** Days ahead within which an expiring secret is listed. */
export const DIGEST_SECRET_DAYS = 30;

/** Gathers the digest: one read of every registration and one of every tenant's state rows. */
export async function digestFacts(deps: DigestDeps): Promise<DigestFacts> {
  const now = deps.clock();
  const statuses = await listTenantStatuses(deps);
  const failing = statuses
    .filter((s) => s.consecutiveFailures > 0 || s.quarantined)
    .map((s) => ({ tenantId: s.tenantId, displayName: s.displayName, consecutiveFailures: s.consecutiveFailures, quarantined: s.quarantined, code: s.lastFailure?.code }))
    .sort((a, b) => Number(b.quarantined) - Number(a.quarantined) || b.consecutiveFailures - a.consecutiveFailures);
  const secretsExpiring = statuses
    .filter((s) => s.enabled && s.secret && s.secret.daysLeft <= DIGEST_SECRET_DAYS)
    .map((s) => ({ tenantId: s.tenantId, displayName: s.displayName, daysLeft: s.secret!.daysLeft, expiresOn: s.secret!.expiresOn }))
    .sort((a, b) => a.daysLeft - b.daysLeft);
  // The tenant's hold (kept in its health until a later run replaces it): pending ones wait for an operator.
  const runsHeld = statuses
    .filter((s) => s.enabled && s.hold?.state === "pending")
    .map((s) => ({ tenantId: s.tenantId, displayName: s.displayName, runId: s.hold!.runId, removals: s.hold!.removals, changes: s.hold!.changes, expiresAt: s.hold!.expiresAt }))
    .sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
  // A plan over the cap waits for an operator (health keeps the last run's pending plan: no run is read here).
  const plans = statuses
    .filter((s) => s.enabled && s.lastRun?.planPending?.capExceeded)
    .map((s) => ({ tenantId: s.tenantId, displayName: s.displayName, runId: s.lastRun!.planPending!.runId, planned: s.lastRun!.planPending!.planned, cap: undefined as number | undefined }));
  return { date: now.toISOString().slice(0, 10), tenants: statuses.length, failing, secretsExpiring, plansAwaitingReview: plans, runsHeld };
}

const MAX_LINES = 50;
const listed = <T>(items: readonly T[], line: (t: T) => string): string[] => [...items.slice(0, MAX_LINES).map((t) => `  ${line(t)}`), ...(items.length > MAX_LINES ? [`  … and ${items.length - MAX_LINES} more (entra-sync status)`] : [])];

/** The digest as a mail (each section at most 50 lines). */
export function digestMail(f: DigestFacts): { subject: string; lines: string[] } {
  const lines = [`entra-sync daily digest for ${f.date}: ${f.tenants} tenants.`, ""];
  lines.push(`Failing tenants: ${f.failing.length}`, ...listed(f.failing, (t) => `${t.displayName} (${t.tenantId}): ${t.quarantined ? "QUARANTINED, " : ""}${t.consecutiveFailures} failure(s) in a row${t.code ? `, last ${t.code}` : ""}`), "");
  lines.push(`Client secrets expiring within ${DIGEST_SECRET_DAYS} days: ${f.secretsExpiring.length}`, ...listed(f.secretsExpiring, (s) => `${s.displayName} (${s.tenantId}): ${s.daysLeft < 0 ? `expired ${-s.daysLeft} day(s) ago` : `${s.daysLeft} day(s) left`} (${s.expiresOn.slice(0, 10)})`), "");
  lines.push(`Immutable ID plans awaiting review: ${f.plansAwaitingReview.length}`, ...listed(f.plansAwaitingReview, (p) => `${p.displayName} (${p.tenantId}): ${p.planned} planned over the cap${p.cap === undefined ? "" : ` of ${p.cap}`}; review: entra-sync plan --tenant ${p.tenantId} --run ${p.runId}`), "");
  lines.push(`Runs held for approval: ${f.runsHeld.length}`, ...listed(f.runsHeld, (r) => `${r.displayName} (${r.tenantId}): ${r.removals} removals, ${r.changes} changes, expires ${r.expiresAt.slice(0, 16).replace("T", " ")} UTC; approve: entra-sync runs approve ${r.runId}`));
  const issues = f.failing.length + f.secretsExpiring.length + f.plansAwaitingReview.length + f.runsHeld.length;
  return { subject: `entra-sync digest ${f.date}: ${issues === 0 ? "all well" : `${f.failing.length} failing, ${f.secretsExpiring.length} secrets expiring, ${f.plansAwaitingReview.length} plans to review, ${f.runsHeld.length} held`}`, lines };
}

/** Mails the daily digest to the operators, once per UTC day however often it is asked for (intent `digest:<date>`). */
export async function sendOperatorDigest(deps: DigestDeps): Promise<OperatorMailOutcome & { facts: DigestFacts }> {
  const facts = await digestFacts(deps);
  const outcome = await mailOperators(deps, OPERATORS_SCOPE, `digest:${facts.date}`, digestMail(facts));
  return { ...outcome, facts };
}
