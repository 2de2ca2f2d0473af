import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { generate } from "selfsigned";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EntraSyncError } from "../../src/errors.js";
import { AcsMailer, createMailer, OutboxMailer, SmtpMailer, operationIdFor, sendWithRetry, type Mailer, type MailMessage } from "../../src/mail/index.js";
import { renderAlert } from "../../src/mail/templates.js";
import { parseMail } from "./mime.js";

const tenant = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "66666666-7777-8888-9999-000000000000" };

function message(locale: "en" | "sv"): MailMessage {
  const r = renderAlert({ kind: "threshold", locale, schoolName: "Ängby skola", ...tenant, expiresOn: new Date("2026-06-30T23:59:59Z"), daysLeft: 7 });
  return { to: ["it@angby.example", "rektor@angby.example"], cc: ["ops@platform.example"], ...r, idempotencyKey: `${tenant.tenantId}/threshold:abc:7` };
}

describe("SMTP transport (nodemailer) against a real SMTP server on 127.0.0.1", () => {
  const received: Array<{ from: string; rcpt: string[]; raw: string }> = [];
  let server: SMTPServer;
  let port = 0;
  beforeAll(async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "", rcpt: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("utf8") });
          cb();
        });
      },
      onRcptTo(address, _session, cb) {
        if (address.address.startsWith("nobody@")) return cb(Object.assign(new Error("550 mailbox unavailable"), { responseCode: 550 }));
        cb();
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("delivers to the admins and the operators, with subject and both parts, in Swedish and English", async () => {
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${port}`, "entra-sync@platform.example", ["ops@platform.example"]);
    for (const locale of ["sv", "en"] as const) {
      const m = message(locale);
      const sent = await sendWithRetry(mailer, m, { attempts: 1, delayMs: 0 });
      expect(sent.transport).toBe("smtp");
      const got = received.at(-1)!;
      expect(got.from).toBe("entra-sync@platform.example");
      expect(got.rcpt.sort()).toEqual(["it@angby.example", "ops@platform.example", "rektor@angby.example"]);
      const mail = parseMail(got.raw);
      expect(mail.headers.get("subject")).toBe(m.subject);
      expect(mail.headers.get("subject")).toMatch(locale === "sv" ? /^Åtgärd krävs: klienthemligheten för Ängby skola går ut om 7 dagar$/ : /^Action needed: the client secret for Ängby skola expires in 7 days$/);
      expect(mail.headers.get("to")).toBe("it@angby.example, rektor@angby.example");
      expect(mail.headers.get("cc")).toBe("ops@platform.example");
      expect(mail.headers.get("reply-to")).toBe("ops@platform.example");
      expect(mail.headers.get("x-entra-sync-alert")).toBe(m.idempotencyKey);
      expect(mail.headers.get("auto-submitted")).toBe("auto-generated"); // RFC 3834: no automatic answers to it
      expect(mail.headers.get("content-type")).toMatch(/^multipart\/alternative/);
      expect(mail.text).toBe(m.text);
      expect(mail.html).toBe(m.html);
      expect(mail.text).toContain(tenant.clientId);
    }
    mailer.close();
  });

  it("does not retry a permanent refusal (5xx) and reports it as MAIL_FAILED with the cause", async () => {
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${port}`, "entra-sync@platform.example");
    let calls = 0;
    const counting: Mailer = { transport: "smtp", send: (m) => (calls++, mailer.send(m)) };
    const err = await sendWithRetry(counting, { ...message("en"), to: ["nobody@angby.example"], cc: [] }, { attempts: 3, delayMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EntraSyncError);
    expect((err as EntraSyncError).code).toBe("MAIL_FAILED");
    expect((err as EntraSyncError).message).toMatch(/nobody@angby\.example/);
    expect(calls).toBe(1);
    mailer.close();
  });

  it("retries a refused connection, then reports it", async () => {
    const mailer = new SmtpMailer("smtp://127.0.0.1:1", "entra-sync@platform.example");
    let calls = 0;
    const counting: Mailer = { transport: "smtp", send: (m) => (calls++, mailer.send(m)) };
    const err = (await sendWithRetry(counting, message("en"), { attempts: 3, delayMs: 1 }).catch((e: unknown) => e)) as EntraSyncError;
    expect(err.code).toBe("MAIL_FAILED");
    expect(err.retryable).toBe(true);
    expect(err.cause).toBeInstanceOf(Error);
    expect(calls).toBe(3);
  });
});

describe("outbox transport", () => {
  it("writes one complete .eml per send, built by nodemailer", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "es-outbox-"));
    const mailer = new OutboxMailer(dir, "entra-sync@localhost", ["ops@platform.example", "ops2@platform.example"]);
    const m = message("sv");
    const a = await mailer.send(m);
    const b = await mailer.send(m);
    expect(a.path).not.toBe(b.path);
    expect(readdirSync(dir).filter((f) => f.endsWith(".eml"))).toHaveLength(2);
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
    const mail = parseMail(readFileSync(a.path!, "utf8"));
    expect(mail.headers.get("subject")).toBe(m.subject);
    expect(mail.headers.get("from")).toBe("entra-sync@localhost");
    expect(mail.headers.get("reply-to")).toBe("ops@platform.example, ops2@platform.example"); // the alert says "reply to this mail"
    expect(mail.text).toBe(m.text);
    expect(mail.html).toBe(m.html);
  });

  it("takes the message's own Reply-To over the transport's default; an empty one means none", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "es-outbox-"));
    const mailer = new OutboxMailer(dir, "entra-sync@localhost", ["ops@platform.example"]);
    const own = parseMail(readFileSync((await mailer.send({ ...message("en"), replyTo: ["desk@platform.example"] })).path!, "utf8"));
    expect(own.headers.get("reply-to")).toBe("desk@platform.example");
    const none = parseMail(readFileSync((await mailer.send({ ...message("en"), replyTo: [] })).path!, "utf8"));
    expect(none.headers.has("reply-to")).toBe(false);
    expect(none.headers.get("auto-submitted")).toBe("auto-generated");
  });

  it("createMailer sets Reply-To to OPERATOR_EMAIL", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "es-outbox-"));
    const mailer = createMailer({ transport: "outbox", from: "DoNotReply@localhost", operatorEmails: ["ops@platform.example"], acsEndpoint: undefined, smtpUrl: undefined, outboxDir: dir }, { getToken: async () => null });
    const sent = await mailer.send(message("en"));
    expect(parseMail(readFileSync(sent.path!, "utf8")).headers.get("reply-to")).toBe("ops@platform.example");
  });
});

describe("ACS Email transport through @azure/communication-email against a local HTTPS double", () => {
  interface Seen {
    method: string;
    url: string;
    auth: string | undefined;
    operationId: string | undefined;
    body?: unknown;
  }
  const seen: Seen[] = [];
  const operations = new Map<string, { polls: number; fail: boolean }>();
  let server: Server;
  let endpoint = "";
  let ca = "";
  const tokens: string[] = [];
  // Any TokenCredential will do for the SDK; in Azure it is the app's managed identity.
  const credential: TokenCredential = {
    async getToken(scopes): Promise<AccessToken> {
      tokens.push([scopes].flat().join(" "));
      return { token: "test-token-acs", expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const c: Buffer[] = [];
      req.on("data", (d: Buffer) => c.push(d));
      req.on("end", () => resolve(Buffer.concat(c).toString("utf8")));
    });

  beforeAll(async () => {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [{ name: "basicConstraints", cA: true }, { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    });
    ca = pems.cert;
    server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      void (async () => {
        const url = new URL(req.url ?? "/", "https://127.0.0.1");
        const s: Seen = { method: req.method ?? "", url: url.pathname + url.search, auth: req.headers.authorization, operationId: req.headers["operation-id"] as string | undefined };
        seen.push(s);
        if (req.method === "POST" && url.pathname === "/emails:send" && url.searchParams.get("api-version")) {
          s.body = JSON.parse(await readBody(req));
          const id = s.operationId ?? "generated-id";
          const subject = (s.body as { content: { subject: string } }).content.subject;
          operations.set(id, { polls: 0, fail: subject.includes("FAIL") });
          res.writeHead(202, { "Content-Type": "application/json", "Operation-Location": `${endpoint}/emails/operations/${id}?api-version=${url.searchParams.get("api-version")}`, "Retry-After": "0" });
          res.end(JSON.stringify({ id, status: "Running" }));
          return;
        }
        const m = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
        if (req.method === "GET" && m) {
          const op = operations.get(m[1]!);
          if (!op) {
            res.writeHead(404, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ error: { code: "NotFound", message: "no such operation" } }));
            return;
          }
          op.polls++;
          const status = op.polls < 2 ? "Running" : op.fail ? "Failed" : "Succeeded";
          res.writeHead(200, { "Content-Type": "application/json", "Retry-After": "0" });
          res.end(JSON.stringify({ id: m[1], status, ...(status === "Failed" ? { error: { code: "EmailDroppedAllRecipientsSuppressed", message: "all recipients suppressed" } } : {}) }));
          return;
        }
        res.writeHead(404);
        res.end();
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("sends with a bearer token, waits for the operation to succeed, and uses a stable Operation-Id", async () => {
    const mailer = new AcsMailer(endpoint, credential, "DoNotReply@platform.example", { ca, pollIntervalMs: 10, replyTo: ["ops@platform.example"] });
    const m = message("sv");
    const sent = await mailer.send(m);
    expect(sent).toEqual({ transport: "acs", id: operationIdFor(m.idempotencyKey) });
    const post = seen.find((s) => s.method === "POST")!;
    expect(post.url).toMatch(/^\/emails:send\?api-version=/);
    expect(post.auth).toBe("Bearer test-token-acs");
    expect(tokens[0]).toBe("https://communication.azure.com//.default");
    expect(post.operationId).toBe(operationIdFor(m.idempotencyKey));
    expect(post.operationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(post.body).toMatchObject({
      senderAddress: "DoNotReply@platform.example",
      content: { subject: m.subject, plainText: m.text, html: m.html },
      recipients: { to: [{ address: "it@angby.example" }, { address: "rektor@angby.example" }], cc: [{ address: "ops@platform.example" }] },
      headers: { "X-Entra-Sync-Alert": m.idempotencyKey, "Auto-Submitted": "auto-generated" },
      replyTo: [{ address: "ops@platform.example" }],
    });
    expect(seen.filter((s) => s.method === "GET").length).toBeGreaterThanOrEqual(1);
    expect(operationIdFor(m.idempotencyKey)).toBe(operationIdFor(`${tenant.tenantId}/threshold:abc:7`));
  });

  it("throws MAIL_FAILED when the operation ends Failed", async () => {
    const mailer = new AcsMailer(endpoint, credential, "DoNotReply@platform.example", { ca, pollIntervalMs: 10 });
    const err = (await sendWithRetry(mailer, { ...message("en"), subject: "FAIL me", idempotencyKey: "fail-key" }, { attempts: 1, delayMs: 0 }).catch((e: unknown) => e)) as EntraSyncError;
    expect(err.code).toBe("MAIL_FAILED");
    expect(err.message).toMatch(/EmailDroppedAllRecipientsSuppressed. all recipients suppressed/);
  });
});
