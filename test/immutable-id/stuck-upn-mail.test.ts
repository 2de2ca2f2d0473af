/**
 * A user switchUpn left on the temporary UPN (Entra refused to finish the move) is mailed to the tenant's admins and
 * the operators like a consent problem: at once, at most once a day, with the user, both UPNs and what to do; a
 * "resolved" mail follows once a run finished the move.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { emlFiles } from "../expiry/helpers.js";
import { parseMail } from "../mail/mime.js";
import { onboard, useLocalStack } from "../support/stack.js";
import { b64, leaveOnTemporaryUpn, ON, run } from "./helpers.js";

const outbox = mkdtempSync(path.join(tmpdir(), "es-stuck-upn-outbox-"));
const stack = useLocalStack({ env: { MAIL_OUTBOX_DIR: outbox } });

describe("a user left on the temporary UPN", () => {
  it("is mailed once a day with the user, both UPNs and what to do, and mailed as resolved once the move is finished", async () => {
    const s = stack();
    const id = randomUUID();
    const holder = randomUUID();
    const users = [
      { id, userPrincipalName: "dan@skolan.se" },
      { id: holder, userPrincipalName: "holder@school.onmicrosoft.com" },
    ];
    const { tenant } = await onboard(s, {
      users,
      platformUsers: [{ id: "p-dan", tenantId: "x", externalId: id }],
      roles: ["User.ReadWrite.All", "Domain.Read.All"],
      federatedDomains: ["skolan.se"],
      registration: { immutableId: { ...ON, federatedDomains: "switchUpn" }, adminEmails: ["it@skolan.se"] },
    });
    await run(s, tenant.tenantId, { only: ["update"] });
    await leaveOnTemporaryUpn(s, tenant.tenantId, id, { original: "dan@skolan.se", temporary: "dan@school.onmicrosoft.com", value: b64("p-dan") });
    s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: b64("p-dan") });

    const report = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(report.errors.map((e) => e.code)).toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    const mails = (kind: string) => emlFiles(outbox).filter((f) => f.includes(`${tenant.tenantId}/${kind}`));
    expect(mails("authFailure:IMMUTABLE_ID_UPN_RESTORE_FAILED")).toHaveLength(1);
    const mail = parseMail(mails("authFailure:IMMUTABLE_ID_UPN_RESTORE_FAILED")[0]!);
    expect(mail.headers.get("to")).toContain("it@skolan.se");
    for (const part of [id, "dan@school.onmicrosoft.com", "dan@skolan.se", "together with an ImmutableId", "Update-MgUser"]) expect(mail.text).toContain(part);

    await run(s, tenant.tenantId, { only: ["immutableId"] }); // still stuck, the same day: no second mail
    expect(mails("authFailure:IMMUTABLE_ID_UPN_RESTORE_FAILED")).toHaveLength(1);

    s.sim.control.updateUser(tenant.tenantId, holder, { onPremisesImmutableId: null });
    const fixed = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(fixed.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_UPN_RESTORE_FAILED");
    expect(s.sim.control.getUser(tenant.tenantId, id)).toMatchObject({ userPrincipalName: "dan@skolan.se", onPremisesImmutableId: b64("p-dan") });
    expect(mails("authFixed:")).toHaveLength(1);
  });
});
