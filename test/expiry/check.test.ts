import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import azureFunctions from "@azure/functions";
import { describe, expect, it } from "vitest";
import { provideApp } from "../../src/functions/app.js";
import { secretExpiryCheckHandler } from "../../src/functions/secretExpiryCheck.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { createApp } from "../../src/composition.js";
import { collectExpiries, runSecretExpiryCheck, thresholdKey } from "../../src/expiry/check.js";
import type { ExpiryDeps } from "../../src/expiry/deps.js";
import { memoryLogger } from "../../src/log.js";
import { setTenantSecret } from "../../src/tenants/onboarding.js";
import { runWithLease } from "../../src/runs/worker.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { emlFiles, ofTenant, recording } from "./helpers.js";
import { parseMail } from "../mail/mime.js";

const DAY = 86_400_000;
// Noon UTC of today: the steps below land on known calendar days whatever the hour the suite runs.
let now = Math.floor(Date.now() / DAY) * DAY + 12 * 3_600_000;
const clock = () => new Date(now);
const outbox = mkdtempSync(path.join(tmpdir(), "es-expiry-outbox-"));
const log = memoryLogger();
const stackOf = useLocalStack({ clock, log, env: { MAIL_OUTBOX_DIR: outbox } });
const secrets: string[] = [];

async function newTenant(o: { days: number; admins?: string[]; locale?: "en" | "sv"; name?: string }) {
  const s = stackOf();
  const r = await onboard(s, { users: simpleDirectory(2).users, secretDays: o.days, displayName: o.name ?? "Expiry School", registration: { adminEmails: o.admins ?? ["it@school.example"], locale: o.locale ?? "en" } });
  secrets.push(r.clientSecret);
  return r;
}

function deps(mailer = recording(stackOf().app.mailer)): ExpiryDeps & { mailer: ReturnType<typeof recording> } {
  return { ...stackOf().app, mailer, mailRetry: { attempts: 1, delayMs: 0 } };
}

const mine = (r: Awaited<ReturnType<typeof runSecretExpiryCheck>>, tenantId: string) => r.alerts.filter((a) => a.tenantId === tenantId);

describe("daily secret expiry check", () => {
  it("mails only the most urgent crossed threshold, once per secret version, down to the day it expires", async () => {
    const { tenant } = await newTenant({ days: 10, locale: "sv", admins: ["it@norr.example", "rektor@norr.example"], name: "Norrskolan" });
    const d = deps();
    const seen: string[] = [];
    const step = async (advanceMs: number, expectKey: string | undefined) => {
      now += advanceMs;
      const r = await runSecretExpiryCheck(d);
      const sent = mine(r, tenant.tenantId).filter((a) => a.outcome === "sent");
      expect(sent.map((a) => a.key.split(":")[2])).toEqual(expectKey === undefined ? [] : [expectKey]);
      seen.push(...sent.map((a) => a.key));
    };
    await step(0, "14"); // 10 days left: 60, 30 and 14 crossed at once, one mail
    await step(0, undefined); // same day, again: nothing
    await step(DAY, undefined); // 9 days left: still 14
    await step(2 * DAY, "7");
    await step(4 * DAY, "3");
    await step(2 * DAY, "1");
    await step(DAY - 3_600_000, "0"); // 11:00 on the day it expires at 12:00: "expires today"
    await step(DAY, undefined); // expired: threshold 0 was mailed already for this version
    expect(seen).toHaveLength(5);
    const mails = ofTenant(d.mailer.sent, tenant.tenantId);
    expect(mails).toHaveLength(5);
    const first = mails[0]!;
    expect(first.to).toEqual(["it@norr.example", "rektor@norr.example"]);
    expect(first.cc).toEqual(["operators@platform.example"]);
    expect(first.subject).toBe("Åtgärd krävs: klienthemligheten för Norrskolan går ut om 10 dagar");
    expect(first.text).toContain(tenant.tenantId);
    expect(first.text).toContain(tenant.clientId);
    expect(mails[4]!.subject).toBe("Åtgärd krävs: klienthemligheten för Norrskolan går ut i dag");
    // The facts row the API and status read.
    const facts = await stackOf().app.secretFacts.get(tenant.tenantId);
    expect(facts).toMatchObject({ source: "keyVault", version: expect.any(String), expiresOn: expect.any(String), checkedAt: expect.any(String) });
    const intents = await stackOf().app.alertIntents.list(tenant.tenantId);
    expect(intents.filter((i) => i.status === "sent")).toHaveLength(5);
  });

  it("mails an already expired secret once ('has expired')", async () => {
    const { tenant } = await newTenant({ days: -2 });
    const d = deps();
    const r = await runSecretExpiryCheck(d);
    expect(mine(r, tenant.tenantId).map((a) => [a.key.split(":")[2], a.outcome])).toEqual([["0", "sent"]]);
    expect(ofTenant(d.mailer.sent, tenant.tenantId)[0]!.subject).toBe("Action needed: the client secret for Expiry School has expired");
    const again = await runSecretExpiryCheck(d);
    expect(mine(again, tenant.tenantId).map((a) => a.outcome)).toEqual(["skipped"]);
  });

  it("starts afresh for a rotated secret, and its first successful run sends a thank-you once", async () => {
    const s = stackOf();
    const { tenant } = await newTenant({ days: 10 });
    // The first run records the working version (and Entra's date: the app may read its own application object).
    expect((await runWithLease(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] })).status).toBe("succeeded");
    const d = deps();
    expect(mine(await runSecretExpiryCheck(d), tenant.tenantId).map((a) => a.outcome)).toEqual(["sent"]);

    const fresh = s.sim.control.addSecret(tenant.tenantId, tenant.clientId, { endDateTime: new Date(now + 12 * DAY) });
    secrets.push(fresh.value);
    await setTenantSecret(s.app, tenant.tenantId, fresh.value, new Date(now + 12 * DAY));
    const r = await runSecretExpiryCheck(d);
    const v2 = mine(r, tenant.tenantId);
    expect(v2.map((a) => a.outcome)).toEqual(["sent"]); // the 14-day threshold again, for the new version
    expect(v2[0]!.key).toMatch(/^threshold:\d+\.\d+:14$/);

    await runWithLease(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] });
    await runWithLease(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] });
    const intents = await s.app.alertIntents.list(tenant.tenantId);
    const thanks = intents.filter((i) => i.kind === "rotated");
    expect(thanks).toHaveLength(1);
    expect(thanks[0]).toMatchObject({ status: "sent", transport: "outbox" });
    const eml = parseMail(emlFiles(outbox).find((f) => f.includes(`${tenant.tenantId}/rotated:`))!);
    expect(eml.headers.get("subject")).toBe("Thank you: the new client secret for Expiry School works");
    expect(eml.headers.get("to")).toBe("it@school.example");
  });

  it("sends each alert once when two instances check at the same moment", async () => {
    const s = stackOf();
    const tenants = await Promise.all([newTenant({ days: 5 }), newTenant({ days: 20 }), newTenant({ days: 50 })]);
    const other = createApp({ settings: s.settings, ca: s.sim.ca, log: memoryLogger(), clock });
    const a = deps();
    const b = { ...other, mailer: recording(other.mailer), mailRetry: { attempts: 1, delayMs: 0 } };
    for (let round = 0; round < 3; round++) await Promise.all([runSecretExpiryCheck(a), runSecretExpiryCheck(b), runSecretExpiryCheck(a)]);
    for (const { tenant } of tenants) expect(ofTenant([...a.mailer.sent, ...b.mailer.sent], tenant.tenantId)).toHaveLength(1);
    const keys = tenants.map(({ tenant }) => [...a.mailer.sent, ...b.mailer.sent].find((m) => m.idempotencyKey.startsWith(tenant.tenantId))!.idempotencyKey.split(":")[2]);
    expect(keys).toEqual(["7", "30", "60"]);
  });

  it("resends an intent whose sender died between recording it and sending, only after the timeout", async () => {
    const s = stackOf();
    const { tenant } = await newTenant({ days: 6 });
    const d = deps();
    const key = thresholdKey((await collectExpiries(d)).rows.find((r) => r.tenantId === tenant.tenantId)!.generation!, 7);
    // An instance recorded the intent and crashed before sending.
    const claim = await s.app.alertIntents.claim(tenant.tenantId, key, "threshold");
    expect(claim).toBeDefined();
    expect(mine(await runSecretExpiryCheck(d), tenant.tenantId).map((a) => a.outcome)).toEqual(["skipped"]);
    now += 10 * 60_000;
    expect(mine(await runSecretExpiryCheck(d), tenant.tenantId).map((a) => a.outcome)).toEqual(["skipped"]);
    now += 21 * 60_000; // 31 minutes after the claim
    expect(mine(await runSecretExpiryCheck(d), tenant.tenantId).map((a) => a.outcome)).toEqual(["sent"]);
    expect(mine(await runSecretExpiryCheck(d), tenant.tenantId).map((a) => a.outcome)).toEqual(["skipped"]);
    expect(ofTenant(d.mailer.sent, tenant.tenantId)).toHaveLength(1);
    expect(await s.app.alertIntents.get(tenant.tenantId, key)).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("keeps a mail that failed unsent, logs why, and sends it with the next check; retries within a check", async () => {
    const s = stackOf();
    const { tenant } = await newTenant({ days: 2 });
    const d = deps();
    d.mailer.failNext = 1;
    const lines = log.lines.length;
    const r1 = mine(await runSecretExpiryCheck(d), tenant.tenantId);
    expect(r1.map((a) => a.outcome)).toEqual(["failed"]);
    expect(r1[0]!.error).toMatch(/MAIL_FAILED|could not send/);
    const logged = log.lines.slice(lines).find((l) => l.startsWith("ERROR alert mail failed"))!;
    expect(logged).toContain(tenant.tenantId);
    expect(logged).toContain("ECONNREFUSED");
    const intent = (await s.app.alertIntents.list(tenant.tenantId))[0]!;
    expect(intent).toMatchObject({ status: "failed", lastError: expect.stringContaining("ECONNREFUSED") });
    const r2 = mine(await runSecretExpiryCheck(d), tenant.tenantId);
    expect(r2.map((a) => a.outcome)).toEqual(["sent"]);
    expect(ofTenant(d.mailer.sent, tenant.tenantId)).toHaveLength(1);

    const t2 = await newTenant({ days: 2 });
    const retrying = { ...deps(), mailRetry: { attempts: 3, delayMs: 1 } };
    retrying.mailer.failNext = 2;
    expect(mine(await runSecretExpiryCheck(retrying), t2.tenant.tenantId).map((a) => a.outcome)).toEqual(["sent"]);
    expect(retrying.mailer.calls).toBeGreaterThanOrEqual(3);
  });

  it("mails the operators, and says so, when a tenant has no admin address", async () => {
    const { tenant } = await newTenant({ days: 3, admins: [] });
    const d = deps();
    await runSecretExpiryCheck(d);
    const [m] = ofTenant(d.mailer.sent, tenant.tenantId);
    expect(m!.to).toEqual(["operators@platform.example"]);
    expect(m!.cc).toEqual([]);
    expect(m!.text).toMatch(/No administrator e-mail address is registered for this tenant/);
  });

  it("CLI: expiry lists tenants by days left; alerts preview renders today's mail; alerts check runs the check", async () => {
    const s = stackOf();
    const { tenant } = await newTenant({ days: 45, name: "Preview <School>" });
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false };
    expect(await runCli(["expiry", "--json"], io, () => s.app)).toBe(0);
    const rows = JSON.parse(out.join("\n")) as Array<{ tenantId: string; daysLeft?: number }>;
    const days = rows.map((r) => r.daysLeft ?? Infinity);
    expect([...days].sort((x, y) => x - y)).toEqual(days);
    expect(rows.find((r) => r.tenantId === tenant.tenantId)?.daysLeft).toBe(45);
    out.length = 0;
    expect(await runCli(["expiry"], io, () => s.app)).toBe(0);
    expect(out.join("\n")).toMatch(/Preview <School>\s+\S+\s+45\s+keyVault\s+60 d/);

    out.length = 0;
    expect(await runCli(["alerts", "preview", "--tenant", tenant.tenantId], io, () => s.app)).toBe(0);
    expect(out.join("\n")).toMatch(/^To: it@school\.example\nCc: operators@platform\.example\nSubject: Action needed: the client secret for Preview <School> expires in 45 days\n/);
    out.length = 0;
    expect(await runCli(["alerts", "preview", "--tenant", tenant.tenantId, "--html", "--kind", "authFailure", "--cause", "AUTH_CONSENT_MISSING"], io, () => s.app)).toBe(0);
    expect(out.join("\n")).toContain("Preview &lt;School&gt;");
    expect(out.join("\n")).toContain("Grant admin consent");
    // The steps send the admin to "the permission named above": the preview names one, as a real mail does.
    out.length = 0;
    err.length = 0;
    expect(await runCli(["alerts", "preview", "--tenant", tenant.tenantId, "--kind", "authFailure", "--cause", "AUTH_CONSENT_MISSING"], io, () => s.app)).toBe(0);
    expect(out.join("\n")).toContain("named above");
    expect(out.join("\n")).toMatch(/Missing permission:\s+User\.Read\.All\n/);
    expect(err.join("\n")).toContain("names the permission the denied call needed");

    out.length = 0;
    expect(await runCli(["alerts", "check"], io, () => s.app)).toBe(0);
    expect(out.join("\n")).toMatch(new RegExp(`sent\\s+${tenant.tenantId} threshold:[0-9.]+:60 → .*\\.eml`));
    out.length = 0;
    expect(await runCli(["alerts", "check"], io, () => s.app)).toBe(0);
    expect(out.join("\n")).not.toContain(tenant.tenantId);
  });

  it("the secretExpiryCheck timer runs the check through the shared app", async () => {
    const s = stackOf();
    const { tenant } = await newTenant({ days: 25 });
    const lines: string[] = [];
    const context = new azureFunctions.InvocationContext({ functionName: "secretExpiryCheck", logHandler: (_level, ...args) => lines.push(args.join(" ")) });
    provideApp(s.app);
    try {
      await secretExpiryCheckHandler({ isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: "", next: "", lastUpdated: "" } }, context);
    } finally {
      provideApp(undefined);
    }
    expect(lines.join("\n")).toMatch(/secretExpiryCheck: \d+ tenants, \d+ secrets listed, [1-9]\d* mails sent/);
    expect((await s.app.alertIntents.list(tenant.tenantId)).map((i) => [i.kind, i.status])).toEqual([["threshold", "sent"]]);
  });

  it("puts no secret value in any mail or log line", async () => {
    const d = deps();
    await runSecretExpiryCheck(d);
    const everything = [...emlFiles(outbox), ...log.lines, ...d.mailer.sent.map((m) => JSON.stringify(m))].join("\n");
    expect(secrets.length).toBeGreaterThan(5);
    expect(emlFiles(outbox).length).toBeGreaterThan(0);
    for (const v of secrets) expect(everything).not.toContain(v);
    expect(everything).not.toMatch(/"(hint|value|secretText)":/);
  });
});
