import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { EmailClient, type EmailMessage } from "@azure/communication-email";
import type { TokenCredential } from "@azure/core-auth";
import nodemailer from "nodemailer";
import type { Settings } from "../config/settings.js";
import { EntraSyncError } from "../errors.js";
import type { Mailer, MailMessage, SentMail } from "./mailer.js";

/** Header that ties a delivered mail back to its alert intent (operators can search mailboxes for it). */
export const ALERT_HEADER = "X-Entra-Sync-Alert";
/**
 * Every alert is machine-made (RFC 3834 `Auto-Submitted: auto-generated`): mail systems that honour it send no
 * out-of-office or other automatic answer to it, and none of our mails is an answer to one.
 */
const AUTO_SUBMITTED = { "Auto-Submitted": "auto-generated" } as const;

function nodemailerOptions(from: string, defaultReplyTo: readonly string[], m: MailMessage): nodemailer.SendMailOptions {
  const replyTo = m.replyTo ?? defaultReplyTo;
  return {
    from,
    ...(replyTo.length ? { replyTo: [...replyTo] } : {}),
    to: m.to,
    cc: m.cc,
    subject: m.subject,
    text: m.text,
    html: m.html,
    headers: { ...AUTO_SUBMITTED, [ALERT_HEADER]: m.idempotencyKey },
  };
}

/**
 * Writes each mail as an RFC 5322 `.eml` file into a folder (local default, `npm start`). The MIME is built by
 * nodemailer's stream transport, so the file is exactly what an SMTP relay would have received. Every send makes a
 * new file: deduplication is the alert intents' job, and a test that counts files sees a double send.
 */
export class OutboxMailer implements Mailer {
  readonly transport = "outbox" as const;
  private readonly composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
  constructor(
    readonly dir: string,
    private readonly from: string,
    /** Where replies go (the operators): the sender may be a no-reply address. */
    private readonly replyTo: readonly string[] = [],
  ) {}

  async send(m: MailMessage): Promise<SentMail> {
    const info = (await this.composer.sendMail(nodemailerOptions(this.from, this.replyTo, m))) as { message: Buffer; messageId: string };
    await mkdir(this.dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const safeKey = m.idempotencyKey.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 100);
    const name = `${stamp}-${safeKey}-${randomBytes(3).toString("hex")}.eml`;
    const file = path.resolve(this.dir, name);
    // Written under a temporary name first so a reader of the folder never sees half a mail.
    await writeFile(`${file}.tmp`, info.message);
    await rename(`${file}.tmp`, file);
    return { transport: "outbox", id: info.messageId, path: file };
  }
}

/** Sends through any SMTP relay with nodemailer (`SMTP_URL`, e.g. smtps://user:pass@smtp.example.com:465). */
export class SmtpMailer implements Mailer {
  readonly transport = "smtp" as const;
  private readonly transporter: nodemailer.Transporter;
  constructor(
    smtpUrl: string,
    private readonly from: string,
    /** Where replies go (the operators): the sender may be a no-reply address. */
    private readonly replyTo: readonly string[] = [],
  ) {
    this.transporter = nodemailer.createTransport(smtpUrl);
  }

  async send(m: MailMessage): Promise<SentMail> {
    const info = (await this.transporter.sendMail(nodemailerOptions(this.from, this.replyTo, m))) as { messageId: string; rejected?: unknown[] };
    if (Array.isArray(info.rejected) && info.rejected.length > 0)
      throw new EntraSyncError("MAIL_FAILED", `The SMTP relay rejected ${info.rejected.map(String).join(", ")}.`, { retryable: false });
    return { transport: "smtp", id: info.messageId };
  }

  close(): void {
    this.transporter.close();
  }
}

export interface AcsMailerOptions {
  /** Extra CA (PEM) to trust: tests' local double of the ACS endpoint. */
  ca?: string | undefined;
  /** How often to poll the send operation when the service gives no Retry-After. */
  pollIntervalMs?: number;
  /** Where replies go (the operators): the sender is usually ACS's DoNotReply address. */
  replyTo?: readonly string[] | undefined;
}

/** A GUID derived from a string, so a resent alert carries the same ACS Operation-Id and ACS sends it once. */
export function operationIdFor(key: string): string {
  const h = createHash("sha256").update(key).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Azure Communication Services Email through `@azure/communication-email` with a TokenCredential (the app's managed
 * identity in Azure: it needs a role on the ACS resource that allows sending). Waits for the send operation to
 * succeed; a failed or cancelled operation throws.
 */
export class AcsMailer implements Mailer {
  readonly transport = "acs" as const;
  private readonly client: EmailClient;
  constructor(
    endpoint: string,
    credential: TokenCredential,
    private readonly from: string,
    private readonly o: AcsMailerOptions = {},
  ) {
    this.client = new EmailClient(endpoint, credential, {
      ...(o.ca ? { tlsOptions: { ca: o.ca } } : {}),
      retryOptions: { maxRetries: 2 },
    });
  }

  async send(m: MailMessage): Promise<SentMail> {
    const message: EmailMessage = {
      senderAddress: this.from,
      content: { subject: m.subject, plainText: m.text, html: m.html },
      recipients: { to: m.to.map((address) => ({ address })), ...(m.cc.length ? { cc: m.cc.map((address) => ({ address })) } : {}) },
      headers: { ...AUTO_SUBMITTED, [ALERT_HEADER]: m.idempotencyKey },
      ...((m.replyTo ?? this.o.replyTo)?.length ? { replyTo: (m.replyTo ?? this.o.replyTo ?? []).map((address) => ({ address })) } : {}),
    };
    const poller = await this.client.beginSend(message, { operationId: operationIdFor(m.idempotencyKey), updateIntervalInMs: this.o.pollIntervalMs ?? 2_000 });
    const result = await poller.pollUntilDone();
    if (result.status !== "Succeeded")
      throw new EntraSyncError("MAIL_FAILED", `ACS Email ended the send operation ${result.id} as ${result.status}${result.error?.message ? `: ${result.error.message}` : ""}.`, { retryable: true });
    return { transport: "acs", id: result.id };
  }
}

/** Builds the transport chosen by MAIL_TRANSPORT. `credential` is the platform's own (managed identity in Azure). */
export function createMailer(mail: Settings["mail"], credential: TokenCredential): Mailer {
  switch (mail.transport) {
    case "acs":
      return new AcsMailer(mail.acsEndpoint!, credential, mail.from, { replyTo: mail.operatorEmails });
    case "smtp":
      return new SmtpMailer(mail.smtpUrl!, mail.from, mail.operatorEmails);
    case "outbox":
      return new OutboxMailer(mail.outboxDir, mail.from, mail.operatorEmails);
  }
}
