import { describe, expect, it } from "vitest";
import { composeAlert } from "../../src/expiry/notify.js";
import { AUTH_ALERT_CAUSES, escapeHtml, renderAlert, type AlertContent } from "../../src/mail/templates.js";
import { memoryTenant } from "../support/memory.js";

const base: AlertContent = {
  kind: "threshold",
  locale: "en",
  schoolName: `O'Brien <script>alert(1)</script> & "Co"`,
  tenantId: "11111111-2222-3333-4444-555555555555",
  clientId: "66666666-7777-8888-9999-000000000000",
  expiresOn: new Date("2026-06-30T23:59:59Z"),
  daysLeft: 14,
};

describe("alert templates", () => {
  it("name the school, tenant, app, date, days left and the renewal steps, in English and Swedish", () => {
    const en = renderAlert(base);
    expect(en.subject).toBe(`Action needed: the client secret for ${base.schoolName} expires in 14 days`);
    for (const part of [en.text, en.html]) {
      expect(part).toContain(base.tenantId);
      expect(part).toContain(base.clientId);
      expect(part).toContain("30 June 2026");
      expect(part).toContain("New client secret");
      expect(part).toMatch(/Copy the Value, not the Secret ID/);
      expect(part).toMatch(/Never send a secret by e-mail/);
    }
    expect(en.text).toContain("Certificates & secrets");
    expect(en.html).toContain("Certificates &amp; secrets");
    expect(en.text).toMatch(/Days left:\s+14/);
    const sv = renderAlert({ ...base, locale: "sv" });
    expect(sv.subject).toBe(`Åtgärd krävs: klienthemligheten för ${base.schoolName} går ut om 14 dagar`);
    expect(sv.text).toContain("1 juli 2026"); // 23:59 UTC is 01:59 the next day in Stockholm (summer time)
    expect(sv.text).toMatch(/Kopiera Värdet, inte Hemlighets-ID/);
    expect(sv.html).toContain('<html lang="sv">');
  });

  it("escapes every value in the HTML part", () => {
    const { html, text } = renderAlert(base);
    expect(html).not.toContain("<script>");
    expect(html).toContain("O&#39;Brien &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;");
    expect(text).toContain(base.schoolName); // plain text stays as written
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("says expires today, and has expired, at 0 and below", () => {
    expect(renderAlert({ ...base, daysLeft: 0 }).subject).toMatch(/expires today$/);
    expect(renderAlert({ ...base, daysLeft: 0, expired: true }).subject).toMatch(/has expired$/);
    expect(renderAlert({ ...base, daysLeft: -3 }).subject).toMatch(/has expired$/);
    expect(renderAlert({ ...base, daysLeft: 1 }).subject).toMatch(/in 1 day$/);
    expect(renderAlert({ ...base, locale: "sv", daysLeft: -1 }).subject).toMatch(/har gått ut$/);
  });

  it("has a what-to-do text for every auth cause, and the renewal steps where the secret is the cause", () => {
    for (const locale of ["en", "sv"] as const)
      for (const cause of AUTH_ALERT_CAUSES) {
        const m = renderAlert({ ...base, locale, kind: "authFailure", cause });
        expect(m.text).toContain(cause);
        expect(m.text).toMatch(/\n {2}1\. /);
        if (cause === "AUTH_SECRET_EXPIRED" || cause === "AUTH_SECRET_INVALID") expect(m.text).toMatch(locale === "en" ? /New client secret/ : /Ny klienthemlighet/);
      }
    expect(renderAlert({ ...base, kind: "authFailure", cause: "AUTH_CONSENT_MISSING" }).text).toMatch(/Grant admin consent/);
    expect(renderAlert({ ...base, kind: "authFixed", cause: "AUTH_CONSENT_MISSING" }).subject).toMatch(/^Resolved/);
    expect(renderAlert({ ...base, kind: "rotated" }).subject).toMatch(/^Thank you: the new client secret/);
  });

  it("shows Entra's date, a difference from the stored date, and a missing admin address", () => {
    const m = renderAlert({ ...base, source: "entra", mismatchDays: -5, noAdmins: true });
    expect(m.text).toMatch(/Date from:\s+Microsoft Entra/);
    expect(m.text).toMatch(/5 day\(s\) earlier than the date we were given/);
    expect(m.text).toMatch(/No administrator e-mail address is registered/);
  });

  it("link the Entra admin center and the app's Certificates & secrets page of the tenant's cloud, clickable in HTML, with today's menu names", () => {
    const hosts = { global: "https://entra.microsoft.com", usgov: "https://entra.microsoft.us", usgovdod: "https://entra.microsoft.us", china: "https://entra.microsoftonline.cn" } as const;
    for (const [cloud, host] of Object.entries(hosts) as Array<[keyof typeof hosts, string]>)
      for (const locale of ["en", "sv"] as const) {
        const m = renderAlert({ ...base, schoolName: "Skola", locale, cloud, secretId: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" });
        const page = `${host}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/${base.clientId}/isMSAApp~/false`;
        expect(m.text).toContain(page);
        expect(m.html).toContain(`<a href="${page}">${page}</a>`);
        expect(m.html).toContain(`<a href="${host}">${host}</a>`);
        expect(m.text).toContain("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
        expect(m.text).not.toMatch(/\{adminCenter\}|\{credentialsPage\}|Identity → Applications|Identitet → Program/);
        expect(m.text).toContain(locale === "en" ? "Entra ID → App registrations → All applications" : "Entra ID → Appregistreringar → Alla program");
      }
    for (const cause of AUTH_ALERT_CAUSES) expect(renderAlert({ ...base, kind: "authFailure", cause }).text, cause).not.toMatch(/Identity → Applications|\{adminCenter\}/);
    expect(renderAlert({ ...base, kind: "authFailure", cause: "AUTH_APP_DISABLED" }).text).toContain("Entra ID → Enterprise apps");
  });

  it("carry the admin-consent URL in every consent mail, and invite a reply only when the operators' Reply-To is there", () => {
    const tenant = memoryTenant({ cloud: "usgov", adminEmails: ["it@school.example"] });
    const consent = `https://login.microsoftonline.us/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`;
    for (const cause of ["AUTH_APP_NOT_FOUND", "AUTH_CONSENT_MISSING", "MISSING_PERMISSION"]) {
      const { message } = composeAlert(tenant, { kind: "authFailure", cause }, ["ops@platform.example"], `authFailure:${cause}:2026-06-30`);
      expect(message.text, cause).toMatch(/Admin consent:\s+https:\/\/login\.microsoftonline\.us\//);
      expect(message.html, cause).toContain(`<a href="${consent}">`);
      expect(message.replyTo).toEqual(["ops@platform.example"]);
      expect(message.text).toMatch(/Questions: reply to this mail/);
    }
    expect(composeAlert(tenant, { kind: "authFailure", cause: "AUTH_SECRET_EXPIRED" }, [], "k").message.text).not.toContain("adminconsent");
    const silent = composeAlert(tenant, { kind: "threshold", daysLeft: 3, expiresOn: new Date("2026-06-30T23:59:59Z") }, [], "k").message;
    expect(silent.replyTo).toEqual([]);
    expect(silent.text).not.toMatch(/reply to this mail/);
    expect(silent.text).toMatch(/replies to this address are not read/);
  });
});
