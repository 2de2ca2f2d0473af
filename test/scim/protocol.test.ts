import { describe, expect, it } from "vitest";
import { ScimError } from "../../src/scim/errors.js";
import { matchesAll, parseFilter, parsePath } from "../../src/scim/filter.js";
import { applyPatch, operationsOf } from "../../src/scim/patch.js";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const scimTypeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof ScimError ? `${e.status} ${e.scimType}` : String(e);
  }
  return "no error";
};

describe("SCIM filters (no network)", () => {
  const user = { id: "u-1", userName: "Ada@School.example", externalId: "AbC-1", active: false, emails: [{ type: "work", value: "ada@school.example" }, { type: "home", value: "ada@home.example" }], [ENTERPRISE]: { employeeNumber: "12345", manager: { value: "M-1" } } };

  it("compares userName and e-mails ignoring case, id, externalId and references exactly, bare words as strings", () => {
    const m = (f: string) => matchesAll(user, parseFilter(f));
    expect(m('userName eq "ada@school.EXAMPLE"')).toBe(true);
    expect(m('externalId eq "abc-1"')).toBe(false);
    expect(m("externalId eq AbC-1")).toBe(true);
    expect(m(`${ENTERPRISE}:employeeNumber eq 12345`)).toBe(true);
    expect(m(`${ENTERPRISE}:manager eq "m-1"`)).toBe(false);
    expect(m(`${ENTERPRISE}:manager.value eq "M-1"`)).toBe(true);
    expect(m('emails[type eq "home"].value eq "ADA@home.example"')).toBe(true);
    expect(m('emails[type eq "work"].value eq "ada@home.example"')).toBe(false);
    expect(m("active eq False")).toBe(true);
    expect(m('USERNAME Eq "ada@school.example" AND externalid EQ "AbC-1"')).toBe(true);
  });

  it("reads JSON escapes in quoted values and spaces inside value filters", () => {
    expect(parseFilter('displayName eq "EDU All \\"personal\\""')[0]!.value).toBe('EDU All "personal"');
    expect(parseFilter('members[value eq "a b"].value eq "x"')[0]!.path).toMatchObject({ attr: "members", sub: "value" });
  });

  it("refuses other operators, or, not, parentheses and forbidden names with 400 invalidFilter", () => {
    for (const f of ['userName co "a"', 'userName eq "a" or userName eq "b"', 'not (userName eq "a")', 'userName pr', '__proto__ eq "x"', "x".repeat(2000)]) expect(scimTypeOf(() => parseFilter(f)), f).toBe("400 invalidFilter");
  });

  it("splits URN-qualified paths at the attribute (URNs hold dots and colons)", () => {
    expect(parsePath(`${ENTERPRISE}:manager.value`)).toMatchObject({ urn: ENTERPRISE, attr: "manager", sub: "value" });
    expect(scimTypeOf(() => parsePath("constructor.prototype"))).toBe("400 invalidPath");
  });
});

describe("SCIM PATCH, both of Entra's dialects (no network)", () => {
  const patch = (resource: Record<string, unknown>, ops: unknown[]) => applyPatch(resource, operationsOf({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: ops }));

  it("reads ops in any case and \"True\"/\"False\" as booleans on boolean attributes (also inside values)", () => {
    const r = patch({ userName: "a", emails: [{ type: "work", value: "a@x" }] }, [
      { op: "Replace", path: "active", value: "False" },
      { op: "ADD", path: "phoneNumbers", value: [{ type: "mobile", value: "1", primary: "True" }] },
    ]);
    expect(r.active).toBe(false);
    expect(r.phoneNumbers).toEqual([{ type: "mobile", value: "1", primary: true }]);
    expect(scimTypeOf(() => operationsOf({ Operations: [{ op: "copy" }] }))).toBe("400 invalidSyntax");
  });

  it("spreads a path-less replace with dotted keys, URN keys and a whole extension block", () => {
    const r = patch({ userName: "a", name: { givenName: "A", formatted: "A B" } }, [
      { op: "replace", value: { "name.givenName": "Ann", displayName: "Ann B", [`${ENTERPRISE}:employeeNumber`]: "7" } },
      { op: "add", value: { [ENTERPRISE]: { department: "Maths" } } },
    ]);
    expect(r).toEqual({ userName: "a", displayName: "Ann B", name: { givenName: "Ann", formatted: "A B" }, [ENTERPRISE]: { employeeNumber: "7", department: "Maths" } });
  });

  it("creates a filtered item when none matches and changes only the matching one", () => {
    const r = patch({ emails: [{ type: "home", value: "h@x" }] }, [{ op: "Replace", path: 'emails[type eq "work"].value', value: "w@x" }]);
    expect(r.emails).toEqual([{ type: "home", value: "h@x" }, { type: "work", value: "w@x" }]);
  });

  it("takes the enterprise manager as a string, a one-item array or an object, and an empty value as removal", () => {
    for (const value of ["m-1", [{ value: "m-1", $ref: "../Users/m-1" }], { value: "m-1" }]) {
      const r = patch({}, [{ op: "Add", path: `${ENTERPRISE}:manager`, value }]);
      expect((r[ENTERPRISE] as { manager: { value: string } }).manager.value).toBe("m-1");
    }
    const cleared = patch({ [ENTERPRISE]: { manager: { value: "m-1" } } }, [{ op: "Replace", path: `${ENTERPRISE}:manager`, value: "" }]);
    expect(cleared[ENTERPRISE]).toEqual({});
    expect(patch({ nickName: "B" }, [{ op: "replace", path: "nickName", value: null }])).toEqual({});
  });

  it("removes members by value (default dialect) or by filter (compliant): only those, never all; extra fields do not matter", () => {
    const group = { displayName: "G", members: [{ value: "1", display: "One" }, { value: "2" }, { value: "3" }] };
    expect(patch(group, [{ op: "Remove", path: "members", value: [{ $ref: null, value: "1" }] }]).members).toEqual([{ value: "2" }, { value: "3" }]);
    expect(patch(group, [{ op: "remove", path: 'members[value eq "2"]' }]).members).toEqual([{ value: "1", display: "One" }, { value: "3" }]);
    expect(patch(group, [{ op: "Add", path: "members", value: [{ value: "3" }, { value: "4" }] }]).members).toHaveLength(4);
    expect(group.members).toHaveLength(3); // the input is not changed
    expect(scimTypeOf(() => patch(group, [{ op: "remove" }]))).toBe("400 noTarget");
  });

  it("refuses __proto__, constructor and prototype as path segments and leaves Object.prototype alone", () => {
    for (const path of ["__proto__.polluted", "constructor.prototype", `${ENTERPRISE}:__proto__`, "emails[type eq \"w\"].__proto__"])
      expect(scimTypeOf(() => patch({}, [{ op: "add", path, value: { polluted: true } }])), path).toBe("400 invalidPath");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
