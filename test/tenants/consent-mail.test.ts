/**
 * AUTH_CONSENT_MISSING names the permission the denied call needs and the tenant's admin-consent link, in the run's
 * failure and in the mail to the tenant's admins.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { classifyGraphError } from "../../src/graph/errors.js";
import { adminConsentUrl } from "../../src/graph/permissions.js";
import { emlFiles } from "../expiry/helpers.js";
import { ON, run } from "../immutable-id/helpers.js";
import { parseMail } from "../mail/mime.js";
import { onboard, useLocalStack } from "../support/stack.js";

const outbox = mkdtempSync(path.join(tmpdir(), "es-consent-outbox-"));
const stackOf = useLocalStack({ env: { MAIL_OUTBOX_DIR: outbox } });

async function school(roles: string[]) {
  const s = stackOf();
  const users = [{ id: randomUUID(), userPrincipalName: "ann@school.onmicrosoft.com" }];
  const { tenant } = await onboard(s, { users, platformUsers: [{ id: "p-0", tenantId: "x", externalId: users[0]!.id }], roles, registration: { immutableId: ON, adminEmails: ["it@school.example"] } });
  return { s, tenant };
}

describe("AUTH_CONSENT_MISSING", () => {
  for (const [what, roles] of [
    ["a token without roles (no admin consent at all)", []],
    ["a token without User.Read.All (Graph's 403 on the delta read)", ["Domain.Read.All"]],
  ] as const) {
    it(`${what}: names User.Read.All and the admin-consent link, in the run and in the mail`, async () => {
      const { s, tenant } = await school([...roles]);
      const consentUrl = adminConsentUrl(tenant);
      expect(consentUrl).toBe(`https://login.microsoftonline.com/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`);
      const report = await run(s, tenant.tenantId);
      expect(report.status).toBe("failed");
      expect(report.failure?.code).toBe("AUTH_CONSENT_MISSING");
      expect(report.failure?.message).toContain("User.Read.All");
      expect(report.failure?.message).toContain(consentUrl);
      const mails = emlFiles(outbox).filter((f) => f.includes(`${tenant.tenantId}/authFailure:AUTH_CONSENT_MISSING`));
      expect(mails).toHaveLength(1);
      const mail = parseMail(mails[0]!);
      expect(mail.headers.get("to")).toContain("it@school.example");
      expect(mail.text).toContain("User.Read.All");
      expect(mail.text).toContain(consentUrl);
      expect(mail.html).toContain(consentUrl.replace(/&/g, "&amp;"));
    });
  }

  it("gives the consent link of the tenant's own cloud, and the permission of the call that was denied", () => {
    const denied = { statusCode: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." };
    const t = { tenantId: randomUUID(), clientId: randomUUID() };
    const china = classifyGraphError(denied, { ...t, cloud: "china" }, "read its own application object", "Application.Read.All");
    expect(china.code).toBe("AUTH_CONSENT_MISSING");
    expect(china.message).toContain("Application.Read.All");
    expect(china.message).toContain(`https://login.partner.microsoftonline.cn/${t.tenantId}/adminconsent?client_id=${t.clientId}`);
    const usgov = classifyGraphError(denied, { ...t, cloud: "usgov" }, "send a batch of 20 requests", "User.ReadWrite.All");
    expect(usgov.message).toContain("User.ReadWrite.All");
    expect(usgov.message).toContain(`https://login.microsoftonline.us/${t.tenantId}/adminconsent?client_id=${t.clientId}`);
  });
});
