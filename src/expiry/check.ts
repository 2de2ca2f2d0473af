import type { SecretInfo } from "../secrets/store.js";
import type { Tenant } from "../tenants/model.js";
import type { ExpiryDeps } from "./deps.js";
import { deliverAlert, type AlertOutcome } from "./notify.js";
import { isFederated } from "../secrets/federated.js";
import { generationOf, type SecretFacts } from "../state/secret-facts.js";
import { daysLeft, dueThreshold, isExpired, nextThreshold } from "./thresholds.js";

/** One tenant's secret as the check sees it (no value, no hint). */
export interface TenantExpiry {
  tenantId: string;
  displayName: string;
  enabled: boolean;
  /** Key Vault secret version, where a run has read it (listings carry none). */
  version?: string;
  /** Which stored secret this is (see `SecretFacts.generation`); thresholds are mailed once per generation. */
  generation?: string;
  /** The date in force: Entra's when discovered for this version, else Key Vault's. */
  expiresOn?: Date;
  source?: "keyVault" | "entra";
  /** UTC calendar days left: 0 on the day it expires. */
  daysLeft?: number;
  /** Expired already (it may be on its last day). */
  expired?: boolean;
  /** The most urgent threshold crossed today (a mail is due for it unless already sent). */
  dueThreshold?: number;
  /** The next threshold ahead. */
  nextThreshold?: number;
  keyVaultExpiresOn?: Date;
  entraEndDateTime?: Date;
  /** The Secret ID (keyId) of the secret's credential in Entra, where discovery found it. */
  entraKeyId?: string;
  mismatchDays?: number;
  applicationReadDenied?: boolean;
  hintNotFound?: boolean;
  /** Why nothing can be said: no secret stored, or stored without an expiry date. */
  problem?: "noSecret" | "noExpiry";
  /** A federated tenant: it signs in with the platform's app and the managed identity; it has no secret to expire. */
  federated?: true;
}

/** The date in force for a secret version: Entra's if discovered for this very version, else Key Vault's. */
export function effectiveExpiry(info: SecretInfo, facts: SecretFacts | undefined): { expiresOn: Date | undefined; source: "keyVault" | "entra" } {
  if (facts && facts.generation === generationOf(info) && facts.entraEndDateTime) return { expiresOn: new Date(facts.entraEndDateTime), source: "entra" };
  return { expiresOn: info.expiresOn, source: "keyVault" };
}

function describe(t: Tenant, info: SecretInfo | undefined, facts: SecretFacts | undefined, thresholds: readonly number[], now: Date): TenantExpiry {
  const row: TenantExpiry = { tenantId: t.tenantId, displayName: t.displayName, enabled: t.enabled };
  if (isFederated(t)) return { ...row, federated: true };
  if (!info) return { ...row, problem: "noSecret" };
  const { expiresOn, source } = effectiveExpiry(info, facts);
  const generation = generationOf(info);
  const same = facts?.generation === generation;
  const version = info.version || (same ? facts?.version : undefined);
  Object.assign(row, {
    generation,
    ...(version ? { version } : {}),
    source,
    ...(info.expiresOn ? { keyVaultExpiresOn: info.expiresOn } : {}),
    ...(same && facts?.entraEndDateTime ? { entraEndDateTime: new Date(facts.entraEndDateTime) } : {}),
    ...(same && facts?.mismatchDays ? { mismatchDays: facts.mismatchDays } : {}),
    ...(same && facts?.entraEndDateTime && facts.entraKeyId ? { entraKeyId: facts.entraKeyId } : {}),
    ...(same && facts?.hintNotFound ? { hintNotFound: true } : {}),
    ...(facts?.applicationReadDenied ? { applicationReadDenied: true } : {}),
  });
  if (!expiresOn) return { ...row, problem: "noExpiry" };
  const d = daysLeft(expiresOn, now);
  const due = dueThreshold(thresholds, d);
  const next = nextThreshold(thresholds, d);
  return { ...row, expiresOn, daysLeft: d, expired: isExpired(expiresOn, now), ...(due !== undefined ? { dueThreshold: due } : {}), ...(next !== undefined ? { nextThreshold: next } : {}) };
}

/**
 * Every registered tenant's secret expiry, soonest first (tenants without a date last): one paged listing of secret
 * properties from Key Vault (no value is read), the tenants, and the recorded facts. Reads only.
 */
export async function collectExpiries(deps: Pick<ExpiryDeps, "tenants" | "secrets" | "secretFacts" | "settings" | "clock">): Promise<{ rows: TenantExpiry[]; infos: Map<string, SecretInfo>; facts: Map<string, SecretFacts>; tenants: Tenant[] }> {
  const [list, tenants, facts] = await Promise.all([deps.secrets.listInfo(), deps.tenants.listAll(), deps.secretFacts.listAll()]);
  const infos = new Map(list.map((i) => [i.tenantId, i]));
  const now = deps.clock();
  const rows = tenants.map((t) => describe(t, infos.get(t.tenantId), facts.get(t.tenantId), deps.settings.alertThresholdsDays, now));
  rows.sort((a, b) => (a.daysLeft ?? Number.POSITIVE_INFINITY) - (b.daysLeft ?? Number.POSITIVE_INFINITY) || a.displayName.localeCompare(b.displayName));
  return { rows, infos, facts, tenants };
}

/** What one daily check did. */
export interface ExpiryCheckResult {
  checkedAt: string;
  /** Secrets listed from Key Vault (one paged listing). */
  secretsListed: number;
  tenants: number;
  rows: TenantExpiry[];
  /** Mails sent, skipped (already sent / being sent) and failed (sent again next time). */
  alerts: AlertOutcome[];
}

const CONCURRENCY = 4;

/** The intent key of a threshold mail: one per (tenant, secret generation, threshold). */
export const thresholdKey = (generation: string, threshold: number): string => `${thresholdKeyPrefix(generation)}${threshold}`;
/** What the intent keys of threshold mails begin with; of one secret generation's: `thresholdKeyPrefix`. */
export const THRESHOLD_KEY_PREFIX = "threshold:";
export const thresholdKeyPrefix = (generation: string): string => `${THRESHOLD_KEY_PREFIX}${generation}:`;

/**
 * The daily secret expiry check (timer `secretExpiryCheck`, CLI `alerts check`). For each enabled tenant: record
 * the facts of its secret, and where a threshold is crossed that was not yet mailed for this secret version, send
 * one mail for the most urgent one. Exactly once per (tenant, version, threshold) however often and however
 * concurrently it runs. One tenant's failure is logged and never stops the others.
 */
export async function runSecretExpiryCheck(deps: ExpiryDeps): Promise<ExpiryCheckResult> {
  const now = deps.clock();
  const { rows, infos, facts, tenants } = await collectExpiries(deps);
  const byId = new Map(tenants.map((t) => [t.tenantId, t]));
  const alerts: AlertOutcome[] = [];
  const work = rows.filter((r) => r.enabled && r.generation !== undefined);
  let i = 0;
  const worker = async () => {
    while (i < work.length) {
      const row = work[i++]!;
      const tenant = byId.get(row.tenantId)!;
      try {
        await recordFacts(deps, row, infos.get(row.tenantId)!, facts.get(row.tenantId), now);
        if (row.dueThreshold === undefined || !row.expiresOn) continue;
        alerts.push(
          await deliverAlert(deps, tenant, thresholdKey(row.generation!, row.dueThreshold), {
            kind: "threshold",
            expiresOn: row.expiresOn,
            daysLeft: row.daysLeft,
            expired: row.expired,
            source: row.source,
            mismatchDays: row.mismatchDays,
            secretId: row.entraKeyId,
          }),
        );
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        deps.log.error(`secret expiry check failed for a tenant: ${err.message}`, { tenantId: row.tenantId });
        alerts.push({ tenantId: row.tenantId, key: thresholdKey(row.generation!, row.dueThreshold ?? -1), kind: "threshold", outcome: "failed", error: err.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, Math.max(1, work.length)) }, worker));
  const unknown = rows.filter((r) => r.enabled && r.problem);
  for (const r of unknown) deps.log.warn(r.problem === "noSecret" ? "tenant has no client secret in Key Vault" : "client secret has no expiry date in Key Vault: store it again with --expires", { tenantId: r.tenantId });
  const orphans = [...infos.keys()].filter((id) => !byId.has(id));
  if (orphans.length) deps.log.warn("Key Vault holds client secrets of tenants that are not registered", { tenantIds: orphans });
  const result: ExpiryCheckResult = { checkedAt: now.toISOString(), secretsListed: infos.size, tenants: tenants.length, rows, alerts };
  deps.log.info("secret expiry check done", {
    tenants: tenants.length,
    sent: alerts.filter((a) => a.outcome === "sent").length,
    failed: alerts.filter((a) => a.outcome === "failed").length,
  });
  return result;
}

/** Keeps the tenant's "secret" row in step with Key Vault; Entra's facts survive while the version is the same. */
async function recordFacts(deps: ExpiryDeps, row: TenantExpiry, info: SecretInfo, before: SecretFacts | undefined, now: Date): Promise<void> {
  const kv = info.expiresOn?.toISOString();
  const generation = generationOf(info);
  if (before && before.generation === generation && before.keyVaultExpiresOn === kv && before.expiresOn === row.expiresOn?.toISOString() && Date.parse(before.checkedAt) > now.getTime() - 12 * 3_600_000) return;
  await deps.secretFacts.update(row.tenantId, (cur) => {
    const same = cur?.generation === generation;
    const kept: Partial<SecretFacts> = same ? { ...cur } : cur?.applicationReadDenied ? { applicationReadDenied: true } : {};
    const { expiresOn, source } = effectiveExpiry(info, same ? cur : undefined);
    return { ...kept, version: info.version || (same ? (cur?.version ?? "") : ""), generation, source, expiresOn: expiresOn?.toISOString(), keyVaultExpiresOn: kv, checkedAt: now.toISOString() } as SecretFacts;
  });
}
