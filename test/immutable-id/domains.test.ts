/**
 * Immutable ID sync needs to know which of the tenant's domains are federated (`GET /domains`, Domain.Read.All). When
 * it cannot know, it writes nothing: no ImmutableId, no UPN move, on every run until the permission is granted.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { emlFiles } from "../expiry/helpers.js";
import { parseMail } from "../mail/mime.js";
import { onboard, useLocalStack } from "../support/stack.js";
import { ON, patchesPerUser, run } from "./helpers.js";

const outbox = mkdtempSync(path.join(tmpdir(), "es-domains-outbox-"));
const stack = useLocalStack({ env: { MAIL_OUTBOX_DIR: outbox } });

/** Two users in a federated domain and two in the managed one, each matched to a platform user. */
async function school(roles: string[]) {
  const s = stack();
  const users = ["ann@skolan.se", "bo@skolan.se", "cy@school.onmicrosoft.com", "di@school.onmicrosoft.com"].map((upn) => ({ id: randomUUID(), userPrincipalName: upn }));
  const platformUsers = users.map((u, i) => ({ id: `p-${i}`, tenantId: "x", externalId: u.id }));
  const { tenant } = await onboard(s, {
    users,
    platformUsers,
    roles,
    federatedDomains: ["skolan.se"],
    registration: { immutableId: { ...ON, federatedDomains: "switchUpn" }, adminEmails: ["it@skolan.se"] },
  });
  return { s, tenant, users };
}

describe("Immutable ID sync without the tenant's domains", () => {
  it("without Domain.Read.All: writes nothing, reports MISSING_PERMISSION naming it, mails the admins once; works once granted", async () => {
    const { s, tenant, users } = await school(["User.ReadWrite.All", "Application.Read.All"]);
    const report = await run(s, tenant.tenantId);
    expect(report.status).toBe("partial");
    expect(report.update.read).toBe(4); // update sync is not affected
    const err = report.errors.find((e) => e.code === "MISSING_PERMISSION");
    expect(err?.message).toContain("Domain.Read.All");
    expect(err?.message).toContain(`https://login.microsoftonline.com/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`);
    expect(report.immutableId?.written ?? 0).toBe(0);
    expect(patchesPerUser(s, tenant.tenantId, false).size).toBe(0); // not even a UPN move was tried
    for (const u of users) {
      const now = s.sim.control.getUser(tenant.tenantId, u.id)!;
      expect(now.onPremisesImmutableId).toBeNull();
      expect(now.userPrincipalName).toBe(u.userPrincipalName);
    }

    const mails = () => emlFiles(outbox).filter((f) => f.includes(`${tenant.tenantId}/authFailure:MISSING_PERMISSION`));
    expect(mails()).toHaveLength(1);
    const mail = parseMail(mails()[0]!);
    expect(mail.headers.get("to")).toContain("it@skolan.se");
    expect(mail.text).toContain("Domain.Read.All");
    expect(mail.text).toContain(`/adminconsent?client_id=${tenant.clientId}`);

    // the next run the same day: still nothing written, no second mail
    const again = await run(s, tenant.tenantId);
    expect(again.errors.map((e) => e.code)).toContain("MISSING_PERMISSION");
    expect(patchesPerUser(s, tenant.tenantId, false).size).toBe(0);
    expect(mails()).toHaveLength(1);

    // granted: the next run writes every ImmutableId (federated users via switchUpn) and says it is resolved
    s.sim.control.setAppRoles(tenant.tenantId, tenant.clientId, ["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"]);
    const fixed = await run(s, tenant.tenantId);
    expect(fixed.errors.map((e) => e.code)).not.toContain("MISSING_PERMISSION");
    expect(fixed.immutableId?.written).toBe(4);
    const intents = await s.app.alertIntents.list(tenant.tenantId);
    expect(intents.filter((i) => i.kind === "authFixed").map((i) => i.status)).toEqual(["sent"]);
  });

  it("any other failure to read the domains also writes nothing (the run fails, to be retried)", async () => {
    const { s, tenant, users } = await school(["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"]);
    s.sim.control.injectFault({ path: "/domains", tenantId: tenant.tenantId, status: 500, count: 20 });
    const report = await run(s, tenant.tenantId);
    s.sim.control.clearFaults();
    expect(report.status).toBe("failed");
    expect(report.failure?.code).toBe("GRAPH_TRANSIENT");
    expect(patchesPerUser(s, tenant.tenantId, false).size).toBe(0);
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();
  });
});
