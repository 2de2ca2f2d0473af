import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Mailer, MailMessage, SentMail } from "../../src/mail/mailer.js";

/** Wraps a real transport and keeps every message it accepted (and can be told to fail the next sends). */
export function recording(inner: Mailer): Mailer & { sent: MailMessage[]; failNext: number; calls: number } {
  const m = {
    transport: inner.transport,
    sent: [] as MailMessage[],
    failNext: 0,
    calls: 0,
    async send(msg: MailMessage): Promise<SentMail> {
      m.calls++;
      if (m.failNext > 0) {
        m.failNext--;
        throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:25 (relay down)"), { code: "ECONNREFUSED" });
      }
      const r = await inner.send(msg);
      m.sent.push(msg);
      return r;
    },
  };
  return m;
}

/** Messages of one tenant (the idempotency key starts with its id). */
export const ofTenant = (sent: MailMessage[], tenantId: string) => sent.filter((m) => m.idempotencyKey.startsWith(`${tenantId}/`));

/** Every .eml in a folder, as text. */
export function emlFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".eml"))
      .map((f) => readFileSync(path.join(dir, f), "utf8"));
  } catch {
    return [];
  }
}
