/** The SCIM schema and message URNs used here (RFC 7643/7644). */
export const URN = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterprise: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
  list: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  patchOp: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
  error: "urn:ietf:params:scim:api:messages:2.0:Error",
  spc: "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
  resourceType: "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
  schema: "urn:ietf:params:scim:schemas:core:2.0:Schema",
} as const;

/** The most resources one page of a query answers (advertised as filter.maxResults). */
export const MAX_RESULTS = 200;
/** A page's size when the client does not ask for one. */
export const DEFAULT_COUNT = 100;

type Attr = Record<string, unknown>;
const str = (name: string, o: Partial<{ required: boolean; caseExact: boolean; uniqueness: string; multiValued: boolean; mutability: string; description: string }> = {}): Attr => ({
  name,
  type: "string",
  multiValued: o.multiValued ?? false,
  description: o.description ?? name,
  required: o.required ?? false,
  caseExact: o.caseExact ?? false,
  mutability: o.mutability ?? "readWrite",
  returned: "default",
  uniqueness: o.uniqueness ?? "none",
});
const bool = (name: string): Attr => ({ name, type: "boolean", multiValued: false, description: name, required: false, mutability: "readWrite", returned: "default" });
const complex = (name: string, subAttributes: Attr[], multiValued = false): Attr => ({ name, type: "complex", multiValued, description: name, required: false, mutability: "readWrite", returned: "default", subAttributes });
const multi = (name: string, extra: Attr[] = []) => complex(name, [str("value"), str("display"), str("type"), bool("primary"), ...extra], true);

const USER_ATTRIBUTES: Attr[] = [
  str("userName", { required: true, uniqueness: "server" }),
  complex("name", [str("formatted"), str("familyName"), str("givenName"), str("middleName"), str("honorificPrefix"), str("honorificSuffix")]),
  str("displayName"),
  str("nickName"),
  str("title"),
  str("userType"),
  str("preferredLanguage"),
  str("locale"),
  str("timezone"),
  bool("active"),
  multi("emails"),
  multi("phoneNumbers"),
  complex("addresses", [str("formatted"), str("streetAddress"), str("locality"), str("region"), str("postalCode"), str("country"), str("type"), bool("primary")], true),
  multi("roles"),
];

const ENTERPRISE_ATTRIBUTES: Attr[] = [
  str("employeeNumber"),
  str("costCenter"),
  str("organization"),
  str("division"),
  str("department"),
  complex("manager", [str("value", { caseExact: true }), str("$ref"), str("displayName", { mutability: "readOnly" })]),
];

const GROUP_ATTRIBUTES: Attr[] = [
  str("displayName", { required: true, uniqueness: "server" }),
  complex("members", [str("value", { caseExact: true, mutability: "immutable" }), str("$ref", { mutability: "immutable" }), str("display"), str("type", { mutability: "immutable" })], true),
];

/** A tenant's declared custom extension: its URN and simple string attributes. */
export interface CustomExtension {
  urn: string;
  attributes: string[];
}

function schemaResource(id: string, name: string, attributes: Attr[], base: string) {
  return { schemas: [URN.schema], id, name, description: name, attributes, meta: { resourceType: "Schema", location: `${base}/Schemas/${id}` } };
}

/** Every schema this endpoint serves, the tenant's custom extensions included. */
export function schemasFor(base: string, custom: readonly CustomExtension[]) {
  return [
    schemaResource(URN.user, "User", USER_ATTRIBUTES, base),
    schemaResource(URN.enterprise, "EnterpriseUser", ENTERPRISE_ATTRIBUTES, base),
    schemaResource(URN.group, "Group", GROUP_ATTRIBUTES, base),
    ...custom.map((c) => schemaResource(c.urn, c.urn.split(":").at(-3) ?? "Custom", c.attributes.map((a) => str(a)), base)),
  ];
}

export function resourceTypesFor(base: string, custom: readonly CustomExtension[]) {
  return [
    {
      schemas: [URN.resourceType],
      id: "User",
      name: "User",
      endpoint: "/Users",
      description: "User Account",
      schema: URN.user,
      schemaExtensions: [{ schema: URN.enterprise, required: false }, ...custom.map((c) => ({ schema: c.urn, required: false }))],
      meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/User` },
    },
    { schemas: [URN.resourceType], id: "Group", name: "Group", endpoint: "/Groups", description: "Group", schema: URN.group, schemaExtensions: [], meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/Group` } },
  ];
}

export function serviceProviderConfig(base: string) {
  return {
    schemas: [URN.spc],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [{ type: "oauthbearertoken", name: "Secret Token", description: "The tenant's SCIM Secret Token as a bearer token (entra-sync scim token create).", primary: true }],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  };
}

export function listResponse(resources: unknown[], total: number, startIndex: number) {
  return { schemas: [URN.list], totalResults: total, Resources: resources, startIndex, itemsPerPage: resources.length };
}
