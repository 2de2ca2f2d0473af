import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { diffFlattened, diffForAudit, fromAuditEntity, MASKED, MAX_AUDIT_VALUE, toAuditEntity, timeOfRowKey } from "../../src/audit/entry.js";
import { registerSecret } from "../../src/util/redact.js";

const sensitive = new Set(["ssn", "employeeNumber"]);

describe("audit entries", () => {
  it("lists only what changed, old → new, with sensitive values masked and SCIM extension attributes one by one", () => {
    const before = { id: "p-1", tenantId: "t", etag: "W/1", city: "Lund", ssn: "20100101-1234", scimDocument: "{…}", extraAttributes: JSON.stringify({ "urn:ext:2.0:User:employeeNumber": "42", "urn:ext:2.0:User:costCenter": "A" }) };
    const after = { id: "p-1", tenantId: "t", city: "Umeå", ssn: "20100101-9999", firstName: "Anna", scimDocument: "{… other}", extraAttributes: JSON.stringify({ "urn:ext:2.0:User:employeeNumber": "43", "urn:ext:2.0:User:costCenter": "A" }) };
    expect(diffForAudit(before, after, sensitive)).toEqual([
      { attribute: "city", old: "Lund", new: "Umeå" },
      { attribute: "extra:urn:ext:2.0:User:employeeNumber", old: MASKED, new: MASKED },
      { attribute: "firstName", old: null, new: "Anna" },
      { attribute: "ssn", old: MASKED, new: MASKED },
    ]);
    expect(diffForAudit(before, { ...before }, sensitive)).toEqual([]);
    expect(diffForAudit(before, { id: "p-1", tenantId: "t", city: "Lund" }, sensitive).map((c) => [c.attribute, c.new])).toEqual([
      ["extra:urn:ext:2.0:User:costCenter", null],
      ["extra:urn:ext:2.0:User:employeeNumber", null],
      ["ssn", null],
    ]);
    // Attributes in the order of localeCompare (not of code units: "Zeta" after "émile").
    expect(diffForAudit(undefined, { Zeta: "1", b: "2", émile: "3", alpha: "4" }, sensitive).map((c) => c.attribute)).toEqual(["alpha", "b", "émile", "Zeta"]);
  });

  it("compares two users in place exactly as over their flattened fields, when neither has extension attributes", () => {
    const keys = ["id", "tenantId", "etag", "odata.etag", "scimDocument", "timestamp", "city", "ssn", "Zeta", "émile", "b", "10", "2", "extraAttributes"];
    const value = fc.oneof(fc.constant(undefined), fc.constant(null), fc.constant(""), fc.constantFrom("Lund", "lund", "1", "true"), fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.constant({ a: 1 }));
    const user = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 10 });
    fc.assert(
      fc.property(fc.option(user, { nil: undefined }), user, (before, after) => {
        expect(diffForAudit(before, after, sensitive)).toEqual(diffFlattened(before, after, sensitive));
      }),
      { numRuns: 3000 },
    );
  });

  it("never keeps a secret and cuts long values; the row fits Table Storage and reads back", () => {
    const secret = "Zq8~VeryLongClientSecretValue.1234567890abcdef";
    registerSecret(secret);
    const changes = diffForAudit({}, { city: `x ${secret}`, address: "a".repeat(40_000) }, sensitive);
    const entity = toAuditEntity({ at: "2026-11-30T22:00:00.000Z", tenantId: "t", runId: "8204560916235-4590d5ca", source: "scim", target: "platform", userId: "p-1", changes, outcome: "applied" });
    expect(JSON.stringify(entity)).not.toContain(secret);
    expect(String(entity.changes).length).toBeLessThanOrEqual(32_768);
    const back = fromAuditEntity(entity);
    expect(back.changes.find((c) => c.attribute === "address")!.new!.length).toBeLessThan(MAX_AUDIT_VALUE + 40);
    expect(back).toMatchObject({ tenantId: "t", runId: "8204560916235-4590d5ca", source: "scim", userId: "p-1", outcome: "applied" });
    expect(timeOfRowKey(entity.rowKey)).toBe(Date.parse("2026-11-30T22:00:00.000Z"));
    // Newer sorts first.
    const later = toAuditEntity({ at: "2026-11-30T22:00:01.000Z", tenantId: "t", source: "scim", target: "platform", userId: "p-1", changes, outcome: "applied" });
    expect(later.rowKey < entity.rowKey).toBe(true);
  });
});
