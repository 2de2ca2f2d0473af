/**
 * The mails a customer's admins get, end to end on the local stack: a run, expiry discovery and the daily check
 * write real .eml files through the outbox transport (nodemailer), which are read back as a mail client would.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { appCredentialsPageUrl } from "../../src/config/clouds.js";
import { runSecretExpiryCheck } from "../../src/expiry/check.js";
import { adminConsentUrl } from "../../src/graph/permissions.js";
import { runWithLease } from "../../src/runs/worker.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { emlFiles } from "../expiry/helpers.js";
import { simpleDirectory, useLocalStack } from "../support/stack.js";
import { parseMail, type ParsedMail } from "./mime.js";

const DAY = 86_400_000;
const now = Date.now();
const outbox = mkdtempSync(path.join(tmpdir(), "es-customer-mails-"));
const stackOf = useLocalStack({ clock: () => new Date(now), env: { MAIL_OUTBOX_DIR: outbox } });
const OPERATORS = "operators@platform.example"; // the local stack's OPERATOR_EMAIL

/** A customer tenant in the given cloud whose app secret expires in `days`; `roles` are what its admin consented to. */
async function school(o: { cloud: "global" | "usgov" | "usgovdod" | "china"; roles: string[]; days: number; name: string }) {
  const s = stackOf();
  const t = s.sim.control.createTenant({ displayName: o.name, initialDomain: "school.onmicrosoft.com" });
  const a = s.sim.control.createApp(t.id, { roles: o.roles });
  s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(now + 300 * DAY) }); // another secret of the app
  const secret = s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(now + o.days * DAY) });
  s.sim.control.addUsers(t.id, simpleDirectory(2).users);
  const tenant = await addTenant(s.app, { tenantId: t.id, clientId: a.clientId, displayName: o.name, cloud: o.cloud, adminEmails: ["it@school.example"], locale: "en" });
  await setTenantSecret(s.app, t.id, secret.value, new Date(now + o.days * DAY));
  return { tenant, secret };
}

const mailsOf = (tenantId: string, kind: string): ParsedMail[] => emlFiles(outbox).filter((f) => f.includes(`${tenantId}/${kind}`)).map(parseMail);
const hrefs = (html: string) => [...html.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));

describe("customer mails", () => {
  it("an expiry mail links the app's Certificates & secrets page in the tenant's cloud, names the secret by its Secret ID, and is marked auto-generated with the operators as Reply-To", async () => {
    const { tenant, secret } = await school({ cloud: "usgov", roles: ["User.Read.All", "Application.Read.All"], days: 10, name: "Gov School" });
    expect((await runWithLease(stackOf().app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] })).status).toBe("succeeded");
    expect((await stackOf().app.secretFacts.get(tenant.tenantId))?.entraKeyId).toBe(secret.keyId);
    await runSecretExpiryCheck(stackOf().app);
    const [mail, ...more] = mailsOf(tenant.tenantId, "threshold:");
    expect(more).toHaveLength(0);
    const page = appCredentialsPageUrl("usgov", tenant.clientId);
    expect(page).toBe(`https://entra.microsoft.us/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/${tenant.clientId}/isMSAApp~/false`);
    expect(mail!.text).toContain(page);
    expect(hrefs(mail!.html)).toContain(page); // clickable in the HTML part
    expect(mail!.text).toContain("https://entra.microsoft.us");
    expect(mail!.text).not.toContain("entra.microsoft.com");
    expect(mail!.text).toMatch(new RegExp(`Secret ID of the secret:\\s+${secret.keyId}`));
    expect(mail!.text).toContain(`Keep the old secret (Secret ID ${secret.keyId})`);
    expect(mail!.text).toContain("Entra ID → App registrations → All applications");
    expect(mail!.text).not.toMatch(/Identity → Applications/);
    expect(mail!.text).not.toContain(secret.value);
    expect(mail!.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail!.headers.get("reply-to")).toBe(OPERATORS);
    expect(mail!.text).toMatch(/Questions: reply to this mail/);
  });

  it("a consent mail carries the tenant's admin-consent URL for its cloud, clickable, with the same headers", async () => {
    const { tenant } = await school({ cloud: "china", roles: [], days: 200, name: "Mooncake School" });
    const report = await runWithLease(stackOf().app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["update"] });
    expect(report.failure?.code).toBe("AUTH_CONSENT_MISSING");
    const [mail] = mailsOf(tenant.tenantId, "authFailure:AUTH_CONSENT_MISSING");
    const consent = adminConsentUrl(tenant);
    expect(consent).toBe(`https://login.partner.microsoftonline.cn/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`);
    expect(mail!.text).toMatch(new RegExp(`Admin consent:\\s+${consent.replace(/[.?/]/g, "\\$&")}`));
    expect(hrefs(mail!.html)).toContain(consent);
    expect(mail!.text).toContain("https://entra.microsoftonline.cn");
    expect(mail!.text).toContain("Entra ID → App registrations → All applications");
    expect(mail!.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail!.headers.get("reply-to")).toBe(OPERATORS);
  });
});
