import type { Settings } from "../config/settings.js";
import { ensureError } from "../errors.js";
import type { AlertIntentStore } from "../expiry/intents.js";
import type { Logger } from "../log.js";
import { DEFAULT_MAIL_RETRY, sendWithRetry, type Mailer, type RetryOptions } from "../mail/mailer.js";
import { redact } from "../util/redact.js";

/** What mailing the operators needs (the App provides it). */
export interface OperatorMailDeps {
  settings: Pick<Settings, "mail">;
  log: Logger;
  clock: () => Date;
  alertIntents: Pick<AlertIntentStore, "claim" | "markSent" | "markFailed">;
  mailer: Mailer;
  mailRetry?: RetryOptions;
}

/** An operator mail: a subject and lines of text (the HTML part is made from them, every value escaped). */
export interface OperatorMail {
  subject: string;
  lines: string[];
}

/** The partition of intents that belong to no tenant (the daily digest). */
export const OPERATORS_SCOPE = "!operators";

export type OperatorMailOutcome = { outcome: "sent" | "skipped" | "failed"; key: string; path?: string; error?: string };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Mails the operators (OPERATOR_EMAIL) exactly once per `key` within `scope` (a tenant id, or OPERATORS_SCOPE), through
 * the same intents as the customer alerts: of two instances (or a retried worker) only the one that claims the intent
 * sends; a send that failed is sent again by whoever claims it next. Never throws for a mail failure.
 */
export async function mailOperators(deps: OperatorMailDeps, scope: string, key: string, mail: OperatorMail): Promise<OperatorMailOutcome> {
  const to = [...deps.settings.mail.operatorEmails];
  if (to.length === 0) {
    deps.log.warn("operator alert not mailed: OPERATOR_EMAIL is not set", { scope, key, subject: mail.subject });
    return { outcome: "failed", key, error: "OPERATOR_EMAIL is not set" };
  }
  const claim = await deps.alertIntents.claim(scope, key, "operator");
  if (!claim) return { outcome: "skipped", key };
  const lines = mail.lines.map(redact);
  const text = `${lines.join("\n")}\n\n— entra-sync\n`;
  const html = `<!doctype html><html><body style="font-family:sans-serif">${lines.map((l) => (l === "" ? "<br>" : `<p style="margin:0 0 4px">${escapeHtml(l)}</p>`)).join("")}<p style="color:#666">— entra-sync</p></body></html>`;
  try {
    const sent = await sendWithRetry(deps.mailer, { to, cc: [], subject: redact(mail.subject), text, html, idempotencyKey: `${scope}/${key}` }, deps.mailRetry ?? DEFAULT_MAIL_RETRY);
    await deps.alertIntents.markSent(claim, { subject: mail.subject, recipients: to, transport: sent.transport, messageId: sent.id, path: sent.path });
    deps.log.info("operator alert mailed", { scope, key, transport: sent.transport, ...(sent.path ? { path: sent.path } : {}) });
    return { outcome: "sent", key, ...(sent.path ? { path: sent.path } : {}) };
  } catch (e) {
    const err = ensureError(e);
    await deps.alertIntents.markFailed(claim, err.message);
    deps.log.error(`operator alert mail failed; it is sent again by the next run or check: ${err.message}`, { scope, key });
    return { outcome: "failed", key, error: err.message };
  }
}
