import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ImmutableIdConfig } from "../../src/tenants/model.js";
import { useLocalStack } from "../support/stack.js";
import { leaveOnTemporaryUpn, run, tenantWith } from "./helpers.js";

const stack = useLocalStack();

/** A federated user (switchUpn on) matched to a platform user whose userName and idpIdentifier are its UPN, synced once. */
async function federatedUser(immutableId: Partial<ImmutableIdConfig> = {}, others = 0) {
  const s = stack();
  const id = randomUUID();
  const users = [{ id, userPrincipalName: "dan@skolan.se" }];
  const platformUsers = [{ id: "p-dan", tenantId: "x", externalId: id, userName: "dan@skolan.se", idpIdentifier: "dan@skolan.se" }];
  for (let i = 0; i < others; i++) {
    const other = randomUUID();
    users.push({ id: other, userPrincipalName: `user${i}@school.onmicrosoft.com` });
    platformUsers.push({ id: `p-${i}`, tenantId: "x", externalId: other, userName: `user${i}@school.onmicrosoft.com`, idpIdentifier: `user${i}@school.onmicrosoft.com` });
  }
  const { tenant } = await tenantWith(s, { users, platformUsers, federatedDomains: ["skolan.se"], immutableId: { federatedDomains: "switchUpn", ...immutableId } });
  await run(s, tenant.tenantId, { only: ["update"], full: true });
  await leaveOnTemporaryUpn(s, tenant.tenantId, id, "dan@skolan.se", "dan@school.onmicrosoft.com");
  s.sim.control.resetStats();
  return { s, tenant, id };
}

describe("a UPN left on the temporary domain by an unfinished switchUpn", () => {
  it("is put back by a preview run, which writes no ImmutableId", async () => {
    const { s, tenant, id } = await federatedUser({ mode: "preview" });
    const report = await run(s, tenant.tenantId);
    const dan = s.sim.control.getUser(tenant.tenantId, id)!;
    expect(dan.userPrincipalName).toBe("dan@skolan.se");
    expect(dan.onPremisesImmutableId).toBeNull();
    expect(s.sim.control.stats().writes).toBe(1); // the UPN put back, nothing else
    expect(report.notices.join(" ")).toMatch(/switchUpn move\(s\) an earlier run left unfinished/);
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
    // the preview plans the user with its own UPN again (a switchUpn, not a plain write on the temporary UPN)
    expect(report.immutableId?.planned).toBe(1);
  });

  it("is put back by a run over the cap, before it stops at the cap", async () => {
    const { s, tenant, id } = await federatedUser({ maxWritesPerRun: 1 }, 3);
    const report = await run(s, tenant.tenantId);
    expect(report.errors.map((e) => e.code)).toContain("IMMUTABLE_ID_CAP_EXCEEDED");
    expect(report.immutableId?.written).toBe(0);
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("dan@skolan.se");
    expect(s.sim.control.stats().writes).toBe(1);
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch).toBeUndefined();
  });

  it("is reported by a dry run, which changes nothing", async () => {
    const { s, tenant, id } = await federatedUser();
    const report = await run(s, tenant.tenantId, { dryRun: true });
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("dan@school.onmicrosoft.com");
    expect(s.sim.control.stats().writes).toBe(0);
    expect(report.notices.join(" ")).toMatch(new RegExp(`1 user\\(s\\) are still on the temporary UPN.*${id}`));
    expect((await s.app.connector.get(tenant.tenantId, id))?.upnSwitch?.original).toBe("dan@skolan.se");
  });

  it("is never mapped into the platform user by update sync meanwhile", async () => {
    const { s, tenant, id } = await federatedUser();
    const update = await run(s, tenant.tenantId, { only: ["update"] });
    expect(update.update.read).toBe(1); // delta brought the temporary UPN
    const p = await s.app.directory.get(tenant.tenantId, "p-dan");
    expect(p?.userName).toBe("dan@skolan.se");
    expect(p?.idpIdentifier).toBe("dan@skolan.se");
    expect(p?.eppn).toBe("dan@skolan.se");
    // the connector space keeps what Entra shows, and the move: the next Immutable ID run puts the UPN back and writes
    expect((await s.app.connector.get(tenant.tenantId, id))?.user.userPrincipalName).toBe("dan@school.onmicrosoft.com");
    const next = await run(s, tenant.tenantId, { only: ["immutableId"] });
    expect(next.immutableId?.written).toBe(1);
    expect(s.sim.control.getUser(tenant.tenantId, id)?.userPrincipalName).toBe("dan@skolan.se");
  });
});
