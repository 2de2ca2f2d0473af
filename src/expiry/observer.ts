import type { RunObserver } from "../runs/observer.js";
import { toEntraSyncError } from "../errors.js";
import { newGraphCounters } from "../graph/client.js";
import { adminConsentUrl, permissionNamedIn } from "../graph/permissions.js";
import { AUTH_ALERT_CAUSES } from "../mail/templates.js";
import type { RunReport } from "../runs/report.js";
import type { ClientSecret } from "../secrets/store.js";
import { isFederated } from "../secrets/federated.js";
import type { Tenant } from "../tenants/model.js";
import type { ExpiryDeps } from "./deps.js";
import { discoverEntraExpiry, mismatchDays } from "./discovery.js";
import { deliverAlert, type AlertOutcome } from "./notify.js";
import { generationOf, type SecretFacts } from "../state/secret-facts.js";
import { DAY_MS, utcDay } from "./thresholds.js";

const AUTH_CAUSES = new Set<string>(AUTH_ALERT_CAUSES);
const STUCK_UPN = "IMMUTABLE_ID_UPN_RESTORE_FAILED";
/** Alert state rows (alerts table): auth failures not yet resolved, and the secret version last seen working. */
const OPEN_AUTH = "open-auth";
const WORKING_VERSION = "working-version";
/** How often Entra's passwordCredentials are read again for the same secret version. */
const DISCOVERY_EVERY_MS = DAY_MS;

type OpenAuth = Record<string, string>;

/**
 * The run observer of secret expiry. After a run fails for an auth cause: a mail at once that says what to do (at
 * most one a day per cause). After a run succeeds: a "resolved" mail if an auth failure was open; a "thank you, the
 * new secret works" mail if the secret version changed since the last successful run; and, at most daily per
 * version, expiry discovery from the app's own passwordCredentials.
 *
 * Discovery lives here rather than in the daily check because it needs the secret's value (to compare its first
 * three characters with the credentials' hints) and a token from it: right after a successful run the secret is
 * known to work, the new version of a rotated secret gets its true date on its first run, and the daily check stays a
 * single listing of secret properties that never reads a value.
 */
export function createExpiryObserver(deps: ExpiryDeps): RunObserver {
  return { name: "secret-expiry", afterRun: (report, tenant) => afterRun(deps, report, tenant).then(() => undefined) };
}

/** What the observer did after one run (for tests and logs). */
export interface ObserverOutcome {
  alerts: AlertOutcome[];
  discovery?: "found" | "noMatch" | "denied" | "error" | "notDue";
}

export async function afterRun(deps: ExpiryDeps, report: RunReport, tenant: Tenant | undefined): Promise<ObserverOutcome> {
  if (!tenant) return { alerts: [] };
  if (report.status === "failed") return { alerts: await onAuthFailure(deps, report.failure?.code, tenant, report.failure?.message) };
  if (report.status !== "succeeded" && report.status !== "partial") return { alerts: [] };
  // A missing permission does not fail the run (the rest of it works) but is mailed like a consent problem; it counts
  // as resolved only after a run whose Immutable ID step got past the domains.
  const missing = report.errors.find((e) => e.code === "MISSING_PERMISSION");
  const alerts = missing ? await onAuthFailure(deps, "MISSING_PERMISSION", tenant, missing.message) : [];
  // Users switchUpn left on the temporary UPN: mailed the same way, resolved once a run finished their moves.
  const stuck = report.errors.filter((e) => e.code === STUCK_UPN).map((e) => e.message);
  if (stuck.length) alerts.push(...(await onAuthFailure(deps, STUCK_UPN, tenant, undefined, stuck)));
  const stillOpen = missing || report.immutableId === undefined ? ["MISSING_PERMISSION"] : [];
  if (stuck.length || report.immutableId === undefined) stillOpen.push(STUCK_UPN);
  const out = await onSuccess(deps, tenant, stillOpen);
  return { ...out, alerts: [...alerts, ...out.alerts] };
}

async function onAuthFailure(deps: ExpiryDeps, code: string | undefined, tenant: Tenant, message?: string, details?: string[]): Promise<AlertOutcome[]> {
  if (!code || !AUTH_CAUSES.has(code)) return [];
  const now = deps.clock();
  const open = (await deps.alertIntents.getState<OpenAuth>(tenant.tenantId, OPEN_AUTH)) ?? {};
  if (!open[code]) await deps.alertIntents.setState(tenant.tenantId, OPEN_AUTH, { ...open, [code]: now.toISOString() });
  const facts = code === "AUTH_SECRET_EXPIRED" || code === "AUTH_SECRET_INVALID" ? await deps.secretFacts.get(tenant.tenantId) : undefined;
  const expiresOn = code === "AUTH_SECRET_EXPIRED" && facts?.expiresOn ? new Date(facts.expiresOn) : undefined;
  // The Secret ID Entra showed for the stored secret, so the admin knows which of the app's secrets is meant.
  const secretId = facts?.source === "entra" ? facts.entraKeyId : undefined;
  const permission = code === "MISSING_PERMISSION" || code === "AUTH_CONSENT_MISSING" ? permissionNamedIn(message ?? "") : undefined;
  const extra = permission ? { permission, consentUrl: adminConsentUrl(tenant) } : {};
  return [await deliverAlert(deps, tenant, `authFailure:${code}:${utcDay(now)}`, { kind: "authFailure", cause: code, expiresOn, ...extra, ...(secretId ? { secretId } : {}), ...(details ? { details } : {}) })];
}

/** `stillOpen`: causes the run did not get far enough to clear (never mailed as resolved, kept open). */
async function onSuccess(deps: ExpiryDeps, tenant: Tenant, stillOpen: string[] = []): Promise<ObserverOutcome> {
  const alerts: AlertOutcome[] = [];
  const allOpen = (await deps.alertIntents.getState<OpenAuth>(tenant.tenantId, OPEN_AUTH)) ?? {};
  const kept = Object.fromEntries(Object.entries(allOpen).filter(([c]) => stillOpen.includes(c)));
  const open = Object.fromEntries(Object.entries(allOpen).filter(([c]) => !stillOpen.includes(c)));
  const closeOpen = () => (Object.keys(kept).length ? deps.alertIntents.setState(tenant.tenantId, OPEN_AUTH, kept) : deps.alertIntents.deleteState(tenant.tenantId, OPEN_AUTH));
  // A federated tenant has no secret: no rotation, no expiry to discover; only open auth failures to resolve.
  if (isFederated(tenant)) {
    const causes = Object.keys(open).sort();
    if (!causes.length) return { alerts };
    const a = await deliverAlert(deps, tenant, `authFixed:${causes.join("+")}:${Object.values(open).sort()[0]!}`, { kind: "authFixed", cause: causes.join(", ") });
    if (a.outcome !== "failed") await closeOpen();
    return { alerts: [a] };
  }
  const secret = await deps.secrets.get(tenant.tenantId);
  const working = await deps.alertIntents.getState<{ version: string }>(tenant.tenantId, WORKING_VERSION);
  const rotated = working !== undefined && working.version !== secret.version;

  const discovery = await discoverIfDue(deps, tenant, secret);
  const facts = await deps.secretFacts.get(tenant.tenantId);
  const expiresOn = facts?.generation === generationOf(secret) && facts.expiresOn ? new Date(facts.expiresOn) : secret.expiresOn;

  if (rotated) {
    // The thank-you also tells the admins that whatever was failing works again, so one mail covers both.
    const a = await deliverAlert(deps, tenant, `rotated:${secret.version}`, { kind: "rotated", expiresOn });
    alerts.push(a);
    if (a.outcome !== "failed") {
      await deps.alertIntents.setState(tenant.tenantId, WORKING_VERSION, { version: secret.version });
      if (Object.keys(open).length) await closeOpen();
    }
  } else {
    if (!working) await deps.alertIntents.setState(tenant.tenantId, WORKING_VERSION, { version: secret.version });
    const causes = Object.keys(open).sort();
    if (causes.length) {
      const since = Object.values(open).sort()[0]!;
      const a = await deliverAlert(deps, tenant, `authFixed:${causes.join("+")}:${since}`, { kind: "authFixed", cause: causes.join(", ") });
      alerts.push(a);
      if (a.outcome !== "failed") await closeOpen();
    }
  }
  return { alerts, discovery };
}

/** Reads Entra's date for the stored secret when this version was never checked or not for a day; records it. */
async function discoverIfDue(deps: ExpiryDeps, tenant: Tenant, secret: ClientSecret): Promise<NonNullable<ObserverOutcome["discovery"]>> {
  const now = deps.clock();
  const generation = generationOf(secret);
  const before = await deps.secretFacts.get(tenant.tenantId);
  const sameBefore = before?.generation === generation;
  if (sameBefore && before?.entraCheckedAt && now.getTime() - Date.parse(before.entraCheckedAt) < DISCOVERY_EVERY_MS) return "notDue";
  let found: Awaited<ReturnType<typeof discoverEntraExpiry>>;
  try {
    const { graph } = deps.graphFor(tenant, secret, newGraphCounters());
    found = await discoverEntraExpiry(graph, secret.value, secret.expiresOn);
  } catch (e) {
    const err = toEntraSyncError(e);
    deps.log.warn(`could not read the app's passwordCredentials; the Key Vault date stays in force: ${err.message}`, { tenantId: tenant.tenantId, code: err.code });
    return "error";
  }
  const kv = secret.expiresOn;
  const iso = now.toISOString();
  const next = await deps.secretFacts.update(tenant.tenantId, (cur) => {
    const same = cur?.generation === generation;
    const base: SecretFacts = {
      ...(same && cur ? cur : {}),
      version: secret.version,
      generation,
      source: "keyVault",
      expiresOn: kv?.toISOString(),
      keyVaultExpiresOn: kv?.toISOString(),
      entraEndDateTime: undefined,
      entraKeyId: undefined,
      mismatchDays: undefined,
      hintNotFound: undefined,
      applicationReadDenied: undefined,
      entraCheckedAt: iso,
      checkedAt: iso,
    } as SecretFacts;
    if (found.kind === "found") return { ...base, source: "entra", expiresOn: found.endDateTime.toISOString(), entraEndDateTime: found.endDateTime.toISOString(), ...(found.keyId ? { entraKeyId: found.keyId } : {}), mismatchDays: mismatchDays(found.endDateTime, kv) } as SecretFacts;
    if (found.kind === "noMatch") return { ...base, hintNotFound: true };
    return { ...base, applicationReadDenied: true };
  });
  if (found.kind === "denied" && !before?.applicationReadDenied)
    deps.log.info("the tenant's app may not read its own application object (Application.Read.All not granted): the expiry date from Key Vault is used", { tenantId: tenant.tenantId });
  if (found.kind === "noMatch" && !(sameBefore && before?.hintNotFound))
    deps.log.warn("none of the app's client secrets in Entra matches the stored one: the expiry date from Key Vault is used", { tenantId: tenant.tenantId, credentials: found.credentials });
  if (next.mismatchDays !== undefined && next.mismatchDays !== (sameBefore ? before?.mismatchDays : undefined))
    deps.log.warn("the secret's expiry in Entra differs from the date stored in Key Vault; Entra's date is used", { tenantId: tenant.tenantId, entraEndDateTime: next.entraEndDateTime, keyVaultExpiresOn: next.keyVaultExpiresOn, mismatchDays: next.mismatchDays });
  return found.kind;
}
