import { ensureError } from "../errors.js";
import { adminConsentUrl } from "../graph/permissions.js";
import { DEFAULT_MAIL_RETRY, sendWithRetry, type MailMessage } from "../mail/mailer.js";
import { renderAlert, type AlertContent } from "../mail/templates.js";
import type { Tenant } from "../tenants/model.js";
import type { ExpiryDeps } from "./deps.js";
import type { AlertKind } from "./intents.js";

/** The facts of one alert beyond the tenant's own (which `composeAlert` fills in). */
export type AlertFacts = Omit<AlertContent, "locale" | "schoolName" | "tenantId" | "clientId" | "noAdmins" | "kind"> & { kind: AlertKind };

/** Addresses and rendered content of an alert for a tenant. */
export interface ComposedAlert {
  message: MailMessage;
  /** The tenant has no admin addresses: the mail goes to the operators and says so. */
  noAdmins: boolean;
}

/** Causes whose fix is an admin's consent: their mails carry the tenant's admin-consent URL. */
const CONSENT_CAUSES = new Set(["AUTH_CONSENT_MISSING", "MISSING_PERMISSION", "AUTH_APP_NOT_FOUND"]);

/**
 * Builds the mail of one alert: to the tenant's admins with the operators in copy; where the tenant has no admin
 * address, to the operators with a note saying so. Replies go to the operators (Reply-To): the text invites a reply
 * only when there is an operator address to take it. Links point into the tenant's own cloud.
 */
export function composeAlert(tenant: Tenant, facts: AlertFacts, operatorEmails: readonly string[], key: string): ComposedAlert {
  const noAdmins = tenant.adminEmails.length === 0;
  const to = noAdmins ? [...operatorEmails] : [...tenant.adminEmails];
  const cc = noAdmins ? [] : operatorEmails.filter((o) => !to.some((t) => t.toLowerCase() === o.toLowerCase()));
  const consentUrl = facts.consentUrl ?? (facts.kind === "authFailure" && CONSENT_CAUSES.has(facts.cause ?? "") ? adminConsentUrl(tenant) : undefined);
  const rendered = renderAlert({
    ...facts,
    ...(consentUrl ? { consentUrl } : {}),
    locale: tenant.locale,
    schoolName: tenant.displayName,
    tenantId: tenant.tenantId,
    clientId: tenant.clientId,
    cloud: tenant.cloud,
    noAdmins,
    canReply: operatorEmails.length > 0,
  });
  return { message: { to, cc, ...rendered, replyTo: [...operatorEmails], idempotencyKey: `${tenant.tenantId}/${key}` }, noAdmins };
}

/** What became of one alert. */
export interface AlertOutcome {
  tenantId: string;
  key: string;
  kind: AlertKind;
  /** `skipped`: already sent, or being sent by another instance. */
  outcome: "sent" | "skipped" | "failed";
  subject?: string;
  recipients?: string[];
  /** Outbox transport: the .eml file. */
  path?: string;
  /** Why it failed (transport error; never mail content). */
  error?: string;
}

/**
 * Sends one alert exactly once: claims the intent (ETag concurrency), sends with retries, marks it sent. A send that
 * fails after its retries marks the intent failed and is logged with its cause; the next check or run sends it
 * again. Never throws for a mail failure; storage failures do throw.
 */
export async function deliverAlert(deps: ExpiryDeps, tenant: Tenant, key: string, facts: AlertFacts): Promise<AlertOutcome> {
  const base = { tenantId: tenant.tenantId, key, kind: facts.kind };
  const { message, noAdmins } = composeAlert(tenant, facts, deps.settings.mail.operatorEmails, key);
  if (message.to.length === 0) {
    const error = "the tenant has no admin e-mail addresses and OPERATOR_EMAIL is not set: nobody to mail";
    deps.log.error(`alert mail not sent: ${error}`, { tenantId: tenant.tenantId, key });
    return { ...base, outcome: "failed", subject: message.subject, error };
  }
  const claim = await deps.alertIntents.claim(tenant.tenantId, key, facts.kind);
  if (!claim) return { ...base, outcome: "skipped" };
  const recipients = [...message.to, ...message.cc];
  try {
    const sent = await sendWithRetry(deps.mailer, message, deps.mailRetry ?? DEFAULT_MAIL_RETRY);
    await deps.alertIntents.markSent(claim, { subject: message.subject, recipients, transport: sent.transport, messageId: sent.id, path: sent.path });
    deps.log.info("alert mail sent", { tenantId: tenant.tenantId, key, kind: facts.kind, transport: sent.transport, recipients, attempt: claim.attempts, ...(noAdmins ? { noAdmins } : {}), ...(sent.path ? { path: sent.path } : {}) });
    return { ...base, outcome: "sent", subject: message.subject, recipients, ...(sent.path ? { path: sent.path } : {}) };
  } catch (e) {
    const err = ensureError(e);
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    await deps.alertIntents.markFailed(claim, err.message);
    deps.log.error(`alert mail failed; it is sent again by the next check or run: ${err.message}`, { tenantId: tenant.tenantId, key, kind: facts.kind, ...(cause ? { cause } : {}) });
    return { ...base, outcome: "failed", subject: message.subject, recipients, error: err.message };
  }
}
