import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeImmutableId } from "../../src/immutable-id/encoding.js";
import type { PlatformUser } from "../../src/directory/types.js";
import { useLocalStack } from "../support/stack.js";
import { immutableStep, patchesPerUser, run, tenantWith } from "./helpers.js";

const stack = useLocalStack();

interface Shape {
  kind: "cloud" | "hasId" | "onPrem" | "unmatched";
  value: number;
  privileged: boolean;
}

const shape = fc.record({
  kind: fc.constantFrom<Shape["kind"]>("cloud", "cloud", "cloud", "hasId", "onPrem", "unmatched"),
  // a small range, so platform values and existing ImmutableIds collide now and then
  value: fc.integer({ min: 0, max: 30 }),
  privileged: fc.nat(4).map((n) => n === 0), // about one in five, under fast-check's control (replayable)
});

describe("Immutable ID sync properties (random directories, random faults)", () => {
  it("never changes an existing ImmutableId, never writes a value twice in a tenant, writes the encoding of the matched platform user", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(shape, { minLength: 10, maxLength: 30 }), fc.integer({ min: 1, max: 1000 }), async (shapes, seed) => {
        const s = stack();
        s.sim.control.setRandomFaults({});
        const usedExisting = new Set<number>();
        const users = shapes.map((sh, i) => {
          const existing = sh.kind === "hasId" || sh.kind === "onPrem" ? (usedExisting.has(sh.value) ? null : (usedExisting.add(sh.value), Buffer.from(`v${sh.value}`).toString("base64"))) : null;
          return { id: randomUUID() as string, userPrincipalName: `u${i}@school.onmicrosoft.com`, onPremisesImmutableId: existing, onPremisesSyncEnabled: sh.kind === "onPrem" ? true : null, privileged: sh.privileged };
        });
        const platformUsers: PlatformUser[] = [];
        shapes.forEach((sh, i) => {
          if (sh.kind !== "unmatched") platformUsers.push({ id: `v${sh.value}`, tenantId: "x", externalId: users[i]!.id });
        });
        // Platform ids are unique: a repeated one gets a suffix. Values (base64 of the id) then collide with the
        // existing ImmutableIds (base64 of v<n>) now and then.
        const seen = new Set<string>();
        for (const p of platformUsers) {
          if (seen.has(p.id)) p.id = `${p.id}x${randomUUID().slice(0, 4)}`;
          seen.add(p.id);
        }
        const { tenant } = await tenantWith(s, { users, platformUsers });
        await run(s, tenant.tenantId, { only: ["update"] });
        const before = new Map(users.map((u) => [u.id, s.sim.control.getUser(tenant.tenantId, u.id)!.onPremisesImmutableId]));
        s.sim.control.setRandomFaults({ rate429: 0.08, rate5xx: 0.05, seed });
        const report = await immutableStep(s, tenant);
        s.sim.control.setRandomFaults({});

        const after = s.sim.control.listUsers(tenant.tenantId);
        const byValue = new Map<string, string>();
        for (const u of after) {
          const was = before.get(u.id);
          if (was) expect(u.onPremisesImmutableId).toBe(was);
          if (u.onPremisesImmutableId) {
            expect(byValue.has(u.onPremisesImmutableId.toLowerCase())).toBe(false);
            byValue.set(u.onPremisesImmutableId.toLowerCase(), u.id);
          }
          if (!was && u.onPremisesImmutableId) {
            const p = platformUsers.find((x) => x.externalId === u.id)!;
            expect(u.onPremisesImmutableId).toBe((encodeImmutableId(p.id, "base64") as { value: string }).value);
          }
        }
        const written = after.filter((u) => !before.get(u.id) && u.onPremisesImmutableId).length;
        expect(report.immutableId!.written).toBe(written);
        for (const n of patchesPerUser(s, tenant.tenantId).values()) expect(n).toBe(1);
      }),
      { numRuns: 6 },
    );
  }, 60_000);

  it("a crash between groups or after Graph answered a write, then a rerun: every candidate written exactly once", async () => {
    for (const where of ["between", "inside"] as const) {
      const s = stack();
      const { tenant, users } = await tenantWith(s, { n: 210 }); // over 200: the planner scans the platform directory
      await run(s, tenant.tenantId, { only: ["update"] });
      s.sim.control.resetStats();
      const crash = new Error(`crash ${where}`);
      const hooks =
        where === "between"
          ? { beforeGroup: (i: number) => { if (i === 2) throw crash; } }
          : { afterWrite: (i: number) => { if (i === 1) throw crash; } };
      await expect(immutableStep(s, tenant, { hooks })).rejects.toBe(crash);
      const partly = users.filter((u) => s.sim.control.getUser(tenant.tenantId, u.id)!.onPremisesImmutableId).length;
      expect(partly).toBeGreaterThan(0);
      expect(partly).toBeLessThan(210);
      const rerun = await immutableStep(s, tenant);
      expect(rerun.status === "failed").toBe(false);
      const patches = patchesPerUser(s, tenant.tenantId, false);
      for (const u of users) {
        expect(s.sim.control.getUser(tenant.tenantId, u.id)!.onPremisesImmutableId).toBe(Buffer.from(`p-${users.indexOf(u)}`).toString("base64"));
        expect(patches.get(u.id)).toBe(1);
      }
      // written in the crashed run but not recorded in the connector space: found by the re-read, not rewritten
      if (where === "inside") expect(rerun.immutableId!.skipped.alreadySet).toBeGreaterThan(0);
    }
  }, 60_000);
});
