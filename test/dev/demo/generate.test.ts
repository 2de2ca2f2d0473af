import { describe, expect, it } from "vitest";
import { changeUsers, generateDemoTenant, type DemoTenant } from "../../../dev/demo/generate.js";

const TENANT = "8f3c2a1e-5b7d-4c9e-a2f1-0d6b4e8c7a93";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function domainOf(address: string): string {
  return address.slice(address.indexOf("@") + 1);
}

function checkInvariants(t: DemoTenant, size: number): void {
  expect(t.entraUsers).toHaveLength(size);

  const ids = new Set(t.entraUsers.map((u) => u.id));
  expect(ids.size).toBe(size);
  for (const id of ids) expect(id).toMatch(GUID);

  const upns = new Set(t.entraUsers.map((u) => u.userPrincipalName.toLowerCase()));
  expect(upns.size).toBe(size);
  for (const u of t.entraUsers) {
    expect([t.managedDomain, t.federatedDomain]).toContain(domainOf(u.userPrincipalName));
    expect(u.userPrincipalName).toMatch(/^[a-z0-9.-]+@[a-z0-9.]+$/);
  }

  const immutableIds = t.entraUsers.flatMap((u) => (u.onPremisesImmutableId ? [u.onPremisesImmutableId] : []));
  expect(new Set(immutableIds).size).toBe(immutableIds.length);
  for (const v of immutableIds) {
    expect(v).not.toMatch(/[$_\s]/);
    expect(v.length).toBeLessThan(60);
    expect(v).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(Buffer.from(v, "base64")).toHaveLength(16);
  }
  for (const u of t.entraUsers) if (u.onPremisesSyncEnabled) expect(u.onPremisesImmutableId).toBeTruthy();

  const pids = new Set(t.platformUsers.map((p) => p.id));
  expect(pids.size).toBe(t.platformUsers.length);
  for (const p of t.platformUsers) {
    expect(p.id).toMatch(/^p-\d{6,}$/);
    expect(p.tenantId).toBe(TENANT);
    if (p.externalId !== undefined) expect(p.externalId).toMatch(GUID);
  }
  // An externalId links at most one platform user.
  const externalIds = t.platformUsers.flatMap((p) => (p.externalId ? [p.externalId] : []));
  expect(new Set(externalIds).size).toBe(externalIds.length);
}

describe("generateDemoTenant", () => {
  it("is deterministic from the seed", () => {
    const a = generateDemoTenant({ seed: 42, size: 500, tenantId: TENANT });
    const b = generateDemoTenant({ seed: 42, size: 500, tenantId: TENANT });
    expect(b).toEqual(a);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("differs for a different seed", () => {
    const a = generateDemoTenant({ seed: 1, size: 50, tenantId: TENANT });
    const b = generateDemoTenant({ seed: 2, size: 50, tenantId: TENANT });
    expect(b.entraUsers.map((u) => u.id)).not.toEqual(a.entraUsers.map((u) => u.id));
    expect(b.entraUsers.map((u) => u.userPrincipalName)).not.toEqual(a.entraUsers.map((u) => u.userPrincipalName));
  });

  it("makes a tenant of 10", () => {
    const t = generateDemoTenant({ seed: 7, size: 10, tenantId: TENANT });
    checkInvariants(t, 10);
    expect(t.managedDomain).toMatch(/^[a-z0-9]+\.onmicrosoft\.com$/);
    expect(t.federatedDomain).toMatch(/^[a-z0-9]+\.se$/);
  });

  it("uses the given school name and domains", () => {
    const t = generateDemoTenant({ seed: 7, size: 20, tenantId: TENANT, schoolName: "Åsö gymnasium" });
    expect(t.schoolName).toBe("Åsö gymnasium");
    expect(t.managedDomain).toBe("asogymnasium.onmicrosoft.com");
    expect(t.federatedDomain).toBe("asogymnasium.se");
    const u = generateDemoTenant({ seed: 7, size: 20, tenantId: TENANT, managedDomain: "m.onmicrosoft.com", federatedDomain: "f.se" });
    for (const e of u.entraUsers) expect(["m.onmicrosoft.com", "f.se"]).toContain(domainOf(e.userPrincipalName));
  });

  it("handles size 0 and rejects bad options", () => {
    const t = generateDemoTenant({ seed: 1, size: 0, tenantId: TENANT });
    expect(t.entraUsers).toEqual([]);
    expect(t.platformUsers).toEqual([]);
    expect(() => generateDemoTenant({ seed: 1, size: -1, tenantId: TENANT })).toThrow(RangeError);
    expect(() => generateDemoTenant({ seed: 1, size: 10, tenantId: TENANT, federatedShare: 1.5 })).toThrow(RangeError);
  });

  describe("at 10,000 users", () => {
    const size = 10_000;
    const t = generateDemoTenant({ seed: 2025, size, tenantId: TENANT });
    const byId = new Map(t.entraUsers.map((u) => [u.id, u]));
    const byUpn = new Map<string, string[]>();
    for (const p of t.platformUsers) {
      if (!p.userName || p.externalId) continue;
      const key = p.userName.toLowerCase();
      byUpn.set(key, [...(byUpn.get(key) ?? []), p.id]);
    }
    const share = (n: number, of = size) => n / of;

    it("has unique ids, UPNs and ImmutableIds in the tenant's domains", () => {
      checkInvariants(t, size);
    });

    it("has roughly the requested shares", () => {
      const users = t.entraUsers;
      expect(share(users.filter((u) => domainOf(u.userPrincipalName) === t.federatedDomain).length)).toBeCloseTo(0.3, 2);
      const onPrem = users.filter((u) => u.onPremisesSyncEnabled === true);
      expect(share(onPrem.length)).toBeCloseTo(0.03, 2);
      const cloud = users.filter((u) => u.onPremisesSyncEnabled !== true);
      expect(share(cloud.filter((u) => u.onPremisesImmutableId).length, cloud.length)).toBeCloseTo(0.1, 2);
      const privileged = users.filter((u) => u.privileged === true).length;
      expect(privileged).toBe(20);

      // Matching: linked by externalId, unlinked-but-findable by userName, ambiguous (two candidates), unmatched.
      const linked = new Set(t.platformUsers.flatMap((p) => (p.externalId && byId.has(p.externalId) ? [p.externalId] : [])));
      let unlinked = 0;
      let ambiguous = 0;
      let unmatched = 0;
      for (const u of users) {
        const candidates = byUpn.get(u.userPrincipalName.toLowerCase())?.length ?? 0;
        if (linked.has(u.id)) expect(candidates).toBe(0);
        else if (candidates === 1) unlinked++;
        else if (candidates === 2) ambiguous++;
        else if (candidates === 0) unmatched++;
        else throw new Error(`unexpected ${candidates} candidates for ${u.userPrincipalName}`);
      }
      expect(share(unmatched)).toBeCloseTo(0.05, 2);
      expect(ambiguous).toBe(20);
      expect(share(unlinked, size - unmatched)).toBeCloseTo(0.1, 2);
      expect(linked.size + unlinked + ambiguous + unmatched).toBe(size);

      // Platform-only users: no Entra user by externalId or by userName.
      const upns = new Set(users.map((u) => u.userPrincipalName.toLowerCase()));
      const platformOnly = t.platformUsers.filter((p) => !(p.externalId && byId.has(p.externalId)) && !(p.userName && upns.has(p.userName.toLowerCase())));
      expect(share(platformOnly.length)).toBeCloseTo(0.02, 2);
      expect(t.platformUsers.length).toBe(size - unmatched + ambiguous + platformOnly.length);
    });

    it("has realistic attributes", () => {
      const users = t.entraUsers;
      expect(users.some((u) => /[åäöÅÄÖ]/.test(u.displayName ?? ""))).toBe(true);
      const ssns = users.map((u) => u.onPremisesExtensionAttributes?.extensionAttribute1).filter((v): v is string => !!v);
      expect(share(ssns.length)).toBeGreaterThan(0.75);
      expect(share(ssns.length)).toBeLessThan(0.85);
      for (const s of ssns) expect(s).toMatch(/^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-\d{4}$/);
      for (const u of users) {
        const eppn = u.onPremisesExtensionAttributes?.extensionAttribute2;
        if (eppn) expect(domainOf(eppn)).toBe(t.federatedDomain);
        if (u.mobilePhone) expect(u.mobilePhone).toMatch(/^\+46 7\d \d{3} \d{2} \d{2}$/);
        if (u.birthday) expect(u.birthday).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
        if (u.mail) expect(u.mail.toLowerCase()).toBe(u.userPrincipalName.toLowerCase());
      }
      expect(users.filter((u) => u.mail === null).length).toBeGreaterThan(0);
      expect(users.filter((u) => (u.otherMails ?? []).length > 0).length).toBeGreaterThan(0);
      expect(users.some((u) => u.city === "Göteborg" && /^\d{3} \d{2}$/.test(u.postalCode ?? ""))).toBe(true);

      // A first sync has updates to make: some linked platform users are stale.
      let stale = 0;
      for (const p of t.platformUsers) {
        const u = p.externalId ? byId.get(p.externalId) : undefined;
        if (!u) continue;
        if (p.city !== (u.city ?? undefined) || p.mobilePhone !== (u.mobilePhone ?? undefined) || p.lastName !== u.surname) stale++;
      }
      expect(stale).toBeGreaterThan(size * 0.15);
      expect(stale).toBeLessThan(size * 0.4);
    });

    it("makes deterministic, realistic changes", () => {
      const a = changeUsers(t, 200, 9);
      expect(changeUsers(t, 200, 9)).toEqual(a);
      expect(changeUsers(t, 200, 10)).not.toEqual(a);
      expect(a).toHaveLength(200);
      expect(new Set(a.map((c) => c.id)).size).toBe(200);
      for (const c of a) {
        expect(byId.has(c.id)).toBe(true);
        expect(Object.keys(c.patch).length).toBeGreaterThan(0);
      }
      expect(a.some((c) => c.patch.city !== undefined && c.patch.postalCode !== undefined)).toBe(true);
      expect(a.some((c) => typeof c.patch.mobilePhone === "string")).toBe(true);
      expect(a.some((c) => c.patch.surname !== undefined && typeof c.patch.mail === "string")).toBe(true);
      expect(a.some((c) => Object.values(c.patch).some((v) => v === null))).toBe(true);

      // New mail addresses collide with no existing UPN or mail.
      const taken = new Set(t.entraUsers.flatMap((u) => [u.userPrincipalName.toLowerCase(), ...(u.mail ? [u.mail.toLowerCase()] : [])]));
      const newMails = a.flatMap((c) => (typeof c.patch.mail === "string" ? [c.patch.mail.toLowerCase()] : []));
      for (const m of newMails) expect(taken.has(m)).toBe(false);
      expect(new Set(newMails).size).toBe(newMails.length);

      expect(changeUsers(generateDemoTenant({ seed: 1, size: 5, tenantId: TENANT }), 50, 1)).toHaveLength(5);
    });
  });

  it("generates 100,000 users", () => {
    const t = generateDemoTenant({ seed: 100, size: 100_000, tenantId: TENANT });
    expect(t.entraUsers).toHaveLength(100_000);
  });
});
