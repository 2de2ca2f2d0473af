import { describe, expect, it } from "vitest";
import { DEFAULT_MAPPING, mapUser, mappingSchema, type MappingConfig } from "../../src/mapping/mapping.js";
import { mergeDeltaEntry, type GraphUser } from "../../src/graph/users.js";
import { validateTenant } from "../../src/tenants/model.js";
import { EntraSyncError } from "../../src/errors.js";

const user: GraphUser = {
  id: "11111111-1111-1111-1111-111111111111",
  userPrincipalName: "anna.svensson@skolan.se",
  mail: null,
  otherMails: ["anna@example.org"],
  givenName: "Anna",
  surname: "Svensson",
  city: "Uppsala",
  streetAddress: "Storgatan 1",
  postalCode: "753 20",
  mobilePhone: "+46701234567",
  onPremisesImmutableId: null,
  onPremisesExtensionAttributes: { extensionAttribute1: "20100101-1234", extensionAttribute2: "anna@skolan.se" },
};

describe("mapUser", () => {
  it("maps fixed attributes and takes the first non-empty source in order", () => {
    const m = mapUser(user, DEFAULT_MAPPING);
    expect(m.externalId).toBe(user.id);
    expect(m.userName).toBe("anna.svensson@skolan.se");
    expect(m.email).toBe("anna@example.org"); // mail is null: otherMails is next
    expect(m.firstName).toBe("Anna");
    expect(m.address).toBe("Storgatan 1");
    expect(m.zipCode).toBe("753 20");
    expect(m.mobilePhone).toBe("+46701234567");
    expect(m.homePhone).toBe("+46701234567");
    expect("ssn" in m).toBe(false); // ssn not mapped by default
    expect("birthDate" in m).toBe(false);
  });

  it("uses configured sources, extension attributes included", () => {
    const mapping: MappingConfig = { ...DEFAULT_MAPPING, userName: ["mail", "otherMails"], eppn: ["extensionAttribute2"], ssn: ["extensionAttribute1"], idpIdentifier: ["onPremisesImmutableId", "userPrincipalName"] };
    const m = mapUser(user, mapping);
    expect(m.userName).toBe("anna@example.org");
    expect(m.eppn).toBe("anna@skolan.se");
    expect(m.ssn).toBe("20100101-1234");
    expect(m.idpIdentifier).toBe("anna.svensson@skolan.se");
  });

  it("maps a cleared property to null (to be cleared on the platform)", () => {
    const m = mapUser({ ...user, city: null, mobilePhone: "  " }, DEFAULT_MAPPING);
    expect(m.city).toBeNull();
    expect(m.mobilePhone).toBeNull();
  });

  it("maps birthday only when the tenant enables it", () => {
    expect(mapUser(user, { ...DEFAULT_MAPPING, birthDate: true }, "2010-01-01T00:00:00Z").birthDate).toBe("2010-01-01");
    expect(mapUser(user, { ...DEFAULT_MAPPING, birthDate: true }, null).birthDate).toBeNull();
  });
});

describe("mergeDeltaEntry (Prefer: return=minimal)", () => {
  it("keeps absent properties, clears null ones, replaces present ones", () => {
    const merged = mergeDeltaEntry(user, { id: user.id, city: null, mobilePhone: "+46709999999" });
    expect(merged.city).toBeNull();
    expect(merged.mobilePhone).toBe("+46709999999");
    expect(merged.surname).toBe("Svensson");
    expect(merged.userPrincipalName).toBe(user.userPrincipalName);
  });
  it("ignores annotations", () => {
    const merged = mergeDeltaEntry(undefined, { id: "x", "@odata.type": "#microsoft.graph.user" } as never);
    expect(Object.keys(merged)).toEqual(["id"]);
  });
});

describe("mapping validation", () => {
  it("refuses a source an attribute cannot use, naming it and the allowed ones", () => {
    const r = mappingSchema.safeParse({ ...DEFAULT_MAPPING, email: ["userPrincipalName"] });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/userPrincipalName.*allowed: mail, otherMails/);
  });
  it("a tenant registration with an unknown mapping source fails with INPUT_INVALID and the field", () => {
    try {
      validateTenant({ tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientId: "72f988bf-86f1-41af-91ab-2d7cd011db48", displayName: "X", mapping: { ...DEFAULT_MAPPING, ssn: ["surname"] } }, new Date());
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EntraSyncError);
      expect((e as EntraSyncError).code).toBe("INPUT_INVALID");
      expect((e as EntraSyncError).field).toBe("mapping.ssn.0");
    }
  });
  it("refuses a tenant id that is not a GUID", () => {
    expect(() => validateTenant({ tenantId: "contoso.onmicrosoft.com", clientId: "72f988bf-86f1-41af-91ab-2d7cd011db48", displayName: "X" }, new Date())).toThrow(/tenantId must be a GUID/);
  });
});
