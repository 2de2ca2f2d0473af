import { EntraSyncError } from "../errors.js";
import type { MailMessage } from "../mail/mailer.js";
import type { AUTH_ALERT_CAUSES } from "../mail/templates.js";
import { collectExpiries, thresholdKey } from "./check.js";
import type { ExpiryDeps } from "./deps.js";
import { composeAlert, type AlertFacts } from "./notify.js";
import { utcDay } from "./thresholds.js";

export interface AlertPreviewRequest {
  tenantId: string;
  kind: "threshold" | "rotated" | "authFailure" | "authFixed";
  /** The auth failure (authFailure, authFixed). */
  cause: (typeof AUTH_ALERT_CAUSES)[number];
}

/**
 * The alert mail of a tenant as it would go out today (`entra-sync alerts preview`); nothing is sent or recorded.
 * `notes` say what the operator should know: no mail due today, already sent, no admin address.
 */
export async function previewAlert(deps: Pick<ExpiryDeps, "tenants" | "secrets" | "secretFacts" | "settings" | "clock" | "alertIntents">, req: AlertPreviewRequest): Promise<{ message: MailMessage; notes: string[] }> {
  const { tenantId } = req;
  const tenant = await deps.tenants.require(tenantId);
  const { rows } = await collectExpiries(deps);
  const row = rows.find((r) => r.tenantId === tenantId)!;
  const notes: string[] = [];
  let facts: AlertFacts;
  let key: string;
  if (req.kind === "threshold") {
    if (!row.expiresOn || row.daysLeft === undefined)
      throw new EntraSyncError("INPUT_INVALID", `Tenant ${tenantId} has ${row.problem === "noSecret" ? "no client secret stored" : "no expiry date stored with its secret"}: store it with \`entra-sync secret set --tenant ${tenantId} --expires <YYYY-MM-DD> --from-stdin\`.`, { field: "tenant" });
    if (row.dueThreshold === undefined) notes.push(`No expiry mail is due today (${row.daysLeft} days left; the next at ${row.nextThreshold ?? "—"} days). This is how it would read today:`);
    key = thresholdKey(row.generation ?? "-", row.dueThreshold ?? row.nextThreshold ?? -1);
    facts = { kind: "threshold", expiresOn: row.expiresOn, daysLeft: row.daysLeft, expired: row.expired, source: row.source, mismatchDays: row.mismatchDays, secretId: row.entraKeyId };
  } else if (req.kind === "rotated") {
    key = `rotated:${row.version ?? row.generation ?? "-"}`;
    facts = { kind: "rotated", expiresOn: row.expiresOn };
  } else if (req.kind === "authFailure") {
    key = `authFailure:${req.cause}:${utcDay(deps.clock())}`;
    // A real consent mail names the permission the denied call needed (its steps refer to it): the preview names the
    // one update sync needs, or for MISSING_PERMISSION the one Immutable ID sync needs in the tenant's mode.
    const permission = req.cause === "AUTH_CONSENT_MISSING" ? "User.Read.All" : req.cause === "MISSING_PERMISSION" ? (tenant.immutableId.mode === "on" ? "User.ReadWrite.All" : "Domain.Read.All") : undefined;
    if (permission) notes.push(`A real mail names the permission the denied call needed; this preview names ${permission}.`);
    facts = { kind: "authFailure", cause: req.cause, expiresOn: req.cause === "AUTH_SECRET_EXPIRED" ? row.expiresOn : undefined, secretId: row.entraKeyId, ...(permission ? { permission } : {}) };
  } else {
    key = `authFixed:${req.cause}`;
    facts = { kind: "authFixed", cause: req.cause };
  }
  const intent = req.kind === "threshold" && row.dueThreshold !== undefined ? await deps.alertIntents.get(tenantId, key) : undefined;
  if (intent?.status === "sent") notes.push(`Already sent on ${intent.sentAt ?? "?"} to ${intent.recipients ?? "?"}: the check will not send it again for this secret version.`);
  const { message, noAdmins } = composeAlert(tenant, facts, deps.settings.mail.operatorEmails, key);
  if (noAdmins) notes.push("The tenant has no admin e-mail addresses: the mail goes to the operators.");
  return { message, notes };
}
