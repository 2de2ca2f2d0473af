import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { collectExpiries, runSecretExpiryCheck } from "../../src/expiry/check.js";
import { discoverEntraExpiry } from "../../src/expiry/discovery.js";
import { newGraphCounters } from "../../src/graph/client.js";
import { memoryLogger } from "../../src/log.js";
import { runWithLease } from "../../src/runs/worker.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { simpleDirectory, useLocalStack } from "../support/stack.js";
import { emlFiles, recording } from "./helpers.js";
import { parseMail } from "../mail/mime.js";

const DAY = 86_400_000;
let now = Date.now();
const clock = () => new Date(now);
const outbox = mkdtempSync(path.join(tmpdir(), "es-discovery-outbox-"));
const log = memoryLogger();
const stackOf = useLocalStack({ clock, log, env: { MAIL_OUTBOX_DIR: outbox } });
const secrets: string[] = [];

/** A customer tenant whose app secret ends `entraDays` from now in Entra, stored here as ending `vaultDays` from now. */
async function setup(o: { roles: string[]; entraDays: number; vaultDays: number; name?: string }) {
  const s = stackOf();
  const t = s.sim.control.createTenant({ displayName: o.name ?? "Discovery School", initialDomain: "school.onmicrosoft.com" });
  const a = s.sim.control.createApp(t.id, { roles: o.roles });
  s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(now + 400 * DAY) }); // another, older secret of the app
  const secret = s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(now + o.entraDays * DAY) });
  secrets.push(secret.value);
  s.sim.control.addUsers(t.id, simpleDirectory(2).users);
  const tenant = await addTenant(s.app, { tenantId: t.id, clientId: a.clientId, displayName: o.name ?? "Discovery School", adminEmails: ["it@school.example"] });
  await setTenantSecret(s.app, t.id, secret.value, new Date(now + o.vaultDays * DAY));
  return { tenant, secret };
}

const run = (tenantId: string) => runWithLease(stackOf().app, { tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] });
const intentsOf = async (tenantId: string) => (await stackOf().app.alertIntents.list(tenantId)).sort((x, y) => x.claimedAt.localeCompare(y.claimedAt));

describe("expiry discovery from the app's passwordCredentials", () => {
  it("finds the credential by hint after a successful run, records Entra's date and the difference, and the check uses it", async () => {
    const { tenant } = await setup({ roles: ["User.Read.All", "Application.Read.All"], entraDays: 40, vaultDays: 45 });
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    const facts = await stackOf().app.secretFacts.get(tenant.tenantId);
    expect(facts).toMatchObject({ source: "entra", mismatchDays: -5, version: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(Date.parse(facts!.entraEndDateTime!)).toBe(now + 40 * DAY);
    expect(facts!.expiresOn).toBe(facts!.entraEndDateTime);
    expect(facts!.applicationReadDenied).toBeUndefined();
    expect(log.lines.some((l) => l.startsWith("WARN the secret's expiry in Entra differs") && l.includes(tenant.tenantId))).toBe(true);

    const row = (await collectExpiries(stackOf().app)).rows.find((r) => r.tenantId === tenant.tenantId)!;
    expect(row).toMatchObject({ source: "entra", daysLeft: 40, dueThreshold: 60, mismatchDays: -5 });
    const d = { ...stackOf().app, mailer: recording(stackOf().app.mailer) };
    await runSecretExpiryCheck(d);
    const mail = d.mailer.sent.find((m) => m.idempotencyKey.startsWith(tenant.tenantId))!;
    expect(mail.subject).toMatch(/expires in 40 days$/);
    expect(mail.text).toMatch(/Date from:\s+Microsoft Entra/);
    expect(mail.text).toMatch(/5 day\(s\) earlier than the date we were given/);

    // Checked again only after a day for the same secret version.
    stackOf().sim.control.resetStats();
    await run(tenant.tenantId);
    expect(Object.keys(stackOf().sim.control.stats().byRoute).some((k) => k.includes("applications"))).toBe(false);
    now += DAY + 60_000;
    await run(tenant.tenantId);
    expect(Object.keys(stackOf().sim.control.stats().byRoute).some((k) => k.includes("applications"))).toBe(true);
  });

  it("reports no match when no credential's hint matches the stored secret", async () => {
    const s = stackOf();
    const { tenant, secret } = await setup({ roles: ["User.Read.All", "Application.Read.All"], entraDays: 100, vaultDays: 100 });
    const info = await s.app.secrets.get(tenant.tenantId);
    const { graph } = s.app.graphFor(tenant, info, newGraphCounters());
    expect(await discoverEntraExpiry(graph, secret.value, undefined)).toMatchObject({ kind: "found", endDateTime: new Date(now + 100 * DAY) });
    const other = secret.value.startsWith("zz") ? "yy" : "zz";
    expect(await discoverEntraExpiry(graph, `${other}-not-a-stored-secret`, undefined)).toEqual({ kind: "noMatch", credentials: 2 });
  });

  it("records a 403 (no Application.Read.All) once and quietly, keeps Key Vault's date, and finds Entra's once granted", async () => {
    const s = stackOf();
    const { tenant } = await setup({ roles: ["User.ReadWrite.All"], entraDays: 30, vaultDays: 33 });
    const before = log.lines.length;
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    expect(await s.app.secretFacts.get(tenant.tenantId)).toMatchObject({ source: "keyVault", applicationReadDenied: true });
    now += DAY + 60_000;
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    const mine = log.lines.slice(before).filter((l) => l.includes(tenant.tenantId) && /Application\.Read\.All|passwordCredentials/.test(l));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(/^INFO /);
    const row = (await collectExpiries(s.app)).rows.find((r) => r.tenantId === tenant.tenantId)!;
    expect(row).toMatchObject({ source: "keyVault", applicationReadDenied: true });

    s.sim.control.setAppRoles(tenant.tenantId, tenant.clientId, ["User.ReadWrite.All", "Application.Read.All"]);
    now += DAY + 60_000;
    await run(tenant.tenantId);
    const facts = await s.app.secretFacts.get(tenant.tenantId);
    expect(facts).toMatchObject({ source: "entra", mismatchDays: -3 });
    expect(Object.keys(facts!).filter((k) => k.startsWith("odata"))).toEqual([]);
    expect(facts!.applicationReadDenied).toBeUndefined();
  });
});

describe("mails at once when a run fails for an auth cause", () => {
  it("mails what to do at most once a day per cause, and once more when it is fixed", async () => {
    const s = stackOf();
    const { tenant } = await setup({ roles: ["User.Read.All"], entraDays: 300, vaultDays: 300, name: "Consent School" });
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    s.sim.control.setAppEnabled(tenant.tenantId, tenant.clientId, false);
    const failed = await run(tenant.tenantId);
    expect(failed.failure?.code).toBe("AUTH_APP_DISABLED");
    await run(tenant.tenantId);
    let intents = await intentsOf(tenant.tenantId);
    expect(intents.map((i) => [i.kind, i.status])).toEqual([["authFailure", "sent"]]);
    const eml = parseMail(emlFiles(outbox).find((f) => f.includes(`${tenant.tenantId}/authFailure:AUTH_APP_DISABLED`))!);
    expect(eml.headers.get("subject")).toBe("Action needed: synchronisation for Consent School has stopped");
    expect(eml.text).toMatch(/Enabled for users to sign-in\? to Yes/);
    expect(eml.text).toContain("AUTH_APP_DISABLED");

    now += DAY;
    await run(tenant.tenantId);
    await run(tenant.tenantId);
    intents = await intentsOf(tenant.tenantId);
    expect(intents.map((i) => i.kind)).toEqual(["authFailure", "authFailure"]);

    s.sim.control.setAppEnabled(tenant.tenantId, tenant.clientId, true);
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    await run(tenant.tenantId);
    intents = await intentsOf(tenant.tenantId);
    expect(intents.map((i) => [i.kind, i.status])).toEqual([
      ["authFailure", "sent"],
      ["authFailure", "sent"],
      ["authFixed", "sent"],
    ]);
    expect(intents[2]!.subject).toBe("Resolved: synchronisation for Consent School works again");
  });

  it("an expired secret: the renewal steps at once; the new secret's first run says thank you (and nothing else)", async () => {
    const s = stackOf();
    const { tenant, secret } = await setup({ roles: ["User.Read.All"], entraDays: 5, vaultDays: 5, name: "Lapsed School" });
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    // Entra now says the secret has expired (the simulator checks its own, real clock).
    const app = s.sim.control;
    app.removeSecret(tenant.tenantId, tenant.clientId, secret.keyId);
    app.addSecret(tenant.tenantId, tenant.clientId, { value: secret.value, endDateTime: new Date(Date.now() - 3_600_000) });
    const failed = await run(tenant.tenantId);
    expect(failed.failure?.code).toBe("AUTH_SECRET_EXPIRED");
    let intents = await intentsOf(tenant.tenantId);
    expect(intents.map((i) => [i.kind, i.key.split(":")[1]])).toEqual([["authFailure", "AUTH_SECRET_EXPIRED"]]);
    const eml = parseMail(emlFiles(outbox).find((f) => f.includes(`${tenant.tenantId}/authFailure:AUTH_SECRET_EXPIRED`))!);
    expect(eml.text).toMatch(/New client secret/);
    expect(eml.text).toMatch(/Copy the Value, not the Secret ID/);

    const fresh = app.addSecret(tenant.tenantId, tenant.clientId, { endDateTime: new Date(now + 700 * DAY) });
    secrets.push(fresh.value);
    await setTenantSecret(s.app, tenant.tenantId, fresh.value, new Date(now + 700 * DAY));
    expect((await run(tenant.tenantId)).status).toBe("succeeded");
    await run(tenant.tenantId);
    intents = await intentsOf(tenant.tenantId);
    expect(intents.map((i) => [i.kind, i.status])).toEqual([
      ["authFailure", "sent"],
      ["rotated", "sent"],
    ]);
    expect(await s.app.secretFacts.get(tenant.tenantId)).toMatchObject({ source: "keyVault", applicationReadDenied: true, keyVaultExpiresOn: new Date(Math.floor((now + 700 * DAY) / 1000) * 1000).toISOString() }); // Key Vault keeps seconds
  });

  it("leaks no secret value into a mail or a log line", () => {
    const all = [...emlFiles(outbox), ...log.lines].join("\n");
    expect(emlFiles(outbox).length).toBeGreaterThan(3);
    for (const v of secrets) expect(all).not.toContain(v);
  });
});
