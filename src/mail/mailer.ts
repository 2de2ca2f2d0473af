import { setTimeout as sleep } from "node:timers/promises";
import { EntraSyncError, ensureError } from "../errors.js";
import type { MailTransportKind } from "../config/settings.js";

/** One e-mail, already rendered. Addresses are plain `user@host`. */
export interface MailMessage {
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string;
  /** Where replies go (the operators); empty: no Reply-To. Absent: the transport's default. */
  replyTo?: string[] | undefined;
  /**
   * A stable id of what this mail is about (tenant, secret version, threshold …). Transports that can deduplicate
   * use it (ACS `Operation-Id`, the outbox file name); it also goes out as `X-Entra-Sync-Alert`.
   */
  idempotencyKey: string;
}

/** What a transport says about a mail it accepted. */
export interface SentMail {
  transport: MailTransportKind;
  /** The transport's id of the message (SMTP Message-ID, ACS operation id, outbox file name). */
  id: string;
  /** Outbox only: the .eml file written. */
  path?: string;
}

/** Sends rendered mails. Implementations: ACS Email, SMTP (nodemailer), outbox (.eml files). */
export interface Mailer {
  readonly transport: MailTransportKind;
  /** Sends once; throws on failure (callers retry through `sendWithRetry`). */
  send(message: MailMessage): Promise<SentMail>;
}

export interface RetryOptions {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** Delay before the second attempt; doubles after each. */
  delayMs: number;
}

export const DEFAULT_MAIL_RETRY: RetryOptions = { attempts: 3, delayMs: 2_000 };

/** Whether trying the same send again can help (SMTP 5xx and HTTP 4xx other than 408/429 cannot). */
export function isRetryableMailError(e: unknown): boolean {
  if (e instanceof EntraSyncError) return e.retryable;
  const any = e as { responseCode?: unknown; statusCode?: unknown; code?: unknown } | null;
  if (typeof any?.responseCode === "number") return any.responseCode < 500;
  if (typeof any?.statusCode === "number") return any.statusCode === 408 || any.statusCode === 429 || any.statusCode >= 500;
  return true;
}

/**
 * Sends with retries and backoff. On final failure throws MAIL_FAILED naming the transport and the cause (the
 * message's addresses are not secret; nothing else of the mail is put in the error).
 */
export async function sendWithRetry(mailer: Mailer, message: MailMessage, o: RetryOptions = DEFAULT_MAIL_RETRY): Promise<SentMail> {
  let delay = o.delayMs;
  let last: unknown;
  for (let attempt = 1; attempt <= Math.max(1, o.attempts); attempt++) {
    try {
      return await mailer.send(message);
    } catch (e) {
      last = e;
      if (!isRetryableMailError(e) || attempt >= o.attempts) break;
      await sleep(delay);
      delay *= 2;
    }
  }
  const cause = ensureError(last);
  throw new EntraSyncError("MAIL_FAILED", `The ${mailer.transport} transport could not send "${message.subject}" to ${[...message.to, ...message.cc].join(", ") || "(no recipients)"}: ${cause.message}`, {
    cause,
    retryable: isRetryableMailError(last),
  });
}
