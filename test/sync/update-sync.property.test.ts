import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRun, executeRun } from "../../src/runs/execute.js";
import type { PlatformUser } from "../../src/directory/types.js";
import type { SimUserInput } from "../../dev/simulator/types.js";
import { onboard, useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack({ simulator: { pageSize: 5 } });

/** A random directory: Entra users, platform users that match by externalId, by key, twice, or not at all. */
const directoryArb = fc.record({
  entra: fc.array(fc.record({ name: fc.constantFrom("anna", "bo", "cecilia", "david", "eva", "fredrik"), city: fc.option(fc.constantFrom("Lund", "Luleå", "Ystad"), { nil: null }) }), { minLength: 1, maxLength: 14 }),
  links: fc.array(fc.constantFrom("external", "key", "keyTwice", "none", "stale"), { minLength: 14, maxLength: 14 }),
  extraPlatform: fc.integer({ min: 0, max: 4 }),
  changes: fc.array(fc.record({ who: fc.nat(), what: fc.constantFrom("city", "clearCity", "softDelete", "hardDelete", "upn") }), { maxLength: 8 }),
});

describe("property: update sync never creates or deletes a platform user", () => {
  it("holds for random directories, matches and changes", async () => {
    const stack = stackOf();
    await fc.assert(
      fc.asyncProperty(directoryArb, async (d) => {
        const users: Array<SimUserInput & { id: string }> = d.entra.map((e, i) => ({ id: randomUUID(), userPrincipalName: `${e.name}${i}@school.onmicrosoft.com`, givenName: e.name, city: e.city }));
        const platform: PlatformUser[] = [];
        users.forEach((u, i) => {
          const link = d.links[i]!;
          if (link === "external") platform.push({ id: `p${i}`, tenantId: "t", externalId: u.id, userName: u.userPrincipalName });
          if (link === "key" || link === "keyTwice") platform.push({ id: `p${i}`, tenantId: "t", userName: u.userPrincipalName.toUpperCase() });
          if (link === "keyTwice") platform.push({ id: `p${i}b`, tenantId: "t", userName: u.userPrincipalName });
          if (link === "stale") platform.push({ id: `p${i}`, tenantId: "t", externalId: randomUUID() });
        });
        for (let k = 0; k < d.extraPlatform; k++) platform.push({ id: `x${k}`, tenantId: "t", userName: `nobody${k}@school.onmicrosoft.com` });
        const { tenant } = await onboard(stack, { users, platformUsers: platform, registration: { linking: { entra: "userPrincipalName", platform: "userName" } } });
        const ids = async () => {
          const out: string[] = [];
          for await (const u of stack.app.directory.list(tenant.tenantId)) out.push(u.id);
          return out.sort();
        };
        const before = await ids();
        expect(before).toHaveLength(platform.length);
        const runOnce = async (mode: "full" | "incremental") => {
          const r = await createRun(stack.app, { tenantId: tenant.tenantId, trigger: "manual", mode, dryRun: false, only: ["update"] });
          const { report } = await executeRun(stack.app, tenant.tenantId, r.runId);
          expect(report.status).not.toBe("failed");
          expect(report.update.matched + report.update.unmatched + report.update.ambiguous).toBe(report.update.read);
        };
        await runOnce("incremental");
        expect(await ids()).toEqual(before);
        for (const c of d.changes) {
          const u = users[c.who % users.length]!;
          const live = stack.sim.control.getUser(tenant.tenantId, u.id);
          if (!live || (live as { deleted?: boolean }).deleted) continue;
          try {
            if (c.what === "city") stack.sim.control.updateUser(tenant.tenantId, u.id, { city: "Kalmar" });
            if (c.what === "clearCity") stack.sim.control.updateUser(tenant.tenantId, u.id, { city: null });
            if (c.what === "upn") stack.sim.control.updateUser(tenant.tenantId, u.id, { userPrincipalName: `moved${c.who}@school.onmicrosoft.com` });
            if (c.what === "softDelete") stack.sim.control.softDeleteUser(tenant.tenantId, u.id);
            if (c.what === "hardDelete") stack.sim.control.hardDeleteUser(tenant.tenantId, u.id);
          } catch {
            // the simulator refuses impossible changes (e.g. deleting twice): fine
          }
        }
        await runOnce("incremental");
        expect(await ids()).toEqual(before);
        await runOnce("full");
        expect(await ids()).toEqual(before);
      }),
      { numRuns: 12, seed: 20261123 },
    );
  });
});
