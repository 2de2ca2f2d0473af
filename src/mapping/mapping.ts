import { z } from "zod";
import type { ExtensionAttributes, GraphUser } from "../graph/users.js";
import type { PlatformAttributes } from "../directory/types.js";

const EXT = Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}` as const);
export type ExtensionAttributeName = (typeof EXT)[number];

/** The Entra sources each configurable platform attribute may take its value from (the README's mapping table). */
export const MAPPING_SOURCES = {
  userName: ["userPrincipalName", "mail", "otherMails"],
  email: ["mail", "otherMails"],
  idpIdentifier: ["userPrincipalName", "mail", "otherMails", "onPremisesImmutableId"],
  eppn: ["mail", "otherMails", "userPrincipalName", ...EXT],
  ssn: [...EXT],
} as const;

export type MappingSource = "userPrincipalName" | "mail" | "otherMails" | "onPremisesImmutableId" | ExtensionAttributeName;

/** A tenant's attribute mapping: for each configurable attribute an ordered list of sources (first non-empty wins). */
export interface MappingConfig {
  userName: MappingSource[];
  email: MappingSource[];
  idpIdentifier: MappingSource[];
  eppn: MappingSource[];
  /** Empty: the SSN is not synced (the default; it is sensitive). */
  ssn: MappingSource[];
  /** Fetch `birthday` per user (Graph serves it only from GET /users/{id}): costs one request per changed user. */
  birthDate: boolean;
}

export const DEFAULT_MAPPING: MappingConfig = {
  userName: ["userPrincipalName", "mail"],
  email: ["mail", "otherMails"],
  idpIdentifier: ["userPrincipalName"],
  eppn: ["mail", "userPrincipalName"],
  ssn: [],
  birthDate: false,
};

function sourceList<K extends keyof typeof MAPPING_SOURCES>(attr: K) {
  const allowed = MAPPING_SOURCES[attr] as readonly string[];
  return z.array(
    z.string().superRefine((s, ctx) => {
      if (!allowed.includes(s)) ctx.addIssue({ code: "custom", message: `"${s}" is not a source mapping.${attr} can use; allowed: ${allowed.join(", ")}` });
    }),
  );
}

export const mappingSchema = z
  .object({
    userName: sourceList("userName").min(1, "mapping.userName needs at least one source"),
    email: sourceList("email"),
    idpIdentifier: sourceList("idpIdentifier"),
    eppn: sourceList("eppn"),
    ssn: sourceList("ssn").max(1, "mapping.ssn takes exactly one extension attribute or none"),
    birthDate: z.boolean(),
  })
  .strict();

/** The Graph properties update sync must select to serve a mapping. */
export function selectFor(_mapping: MappingConfig): string[] {
  // One fixed set: every mapped property plus what Immutable ID sync needs. A fixed set keeps delta tokens valid
  // when a tenant's mapping changes (a changed $select would need a new initial round).
  return [
    "id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "otherMails", "city", "streetAddress",
    "postalCode", "mobilePhone", "onPremisesImmutableId", "onPremisesSyncEnabled", "onPremisesExtensionAttributes", "accountEnabled",
  ];
}

function valueOf(user: GraphUser, source: MappingSource): string | null {
  switch (source) {
    case "userPrincipalName":
      return nonEmpty(user.userPrincipalName);
    case "mail":
      return nonEmpty(user.mail);
    case "otherMails":
      return (user.otherMails ?? []).map(nonEmpty).find((v) => v !== null) ?? null;
    case "onPremisesImmutableId":
      return nonEmpty(user.onPremisesImmutableId);
    default:
      return nonEmpty((user.onPremisesExtensionAttributes as ExtensionAttributes | null | undefined)?.[source]);
  }
}

function nonEmpty(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const t = v.trim();
  return t === "" ? null : t;
}

function firstOf(user: GraphUser, sources: readonly MappingSource[]): string | null {
  for (const s of sources) {
    const v = valueOf(user, s);
    if (v !== null) return v;
  }
  return null;
}

/**
 * Maps a complete Entra user (the connector-space state after merging) to platform attributes. `null` means the
 * attribute is empty in Entra and must be cleared on the platform; attributes the mapping does not cover are absent.
 */
export function mapUser(user: GraphUser, mapping: MappingConfig, birthday?: string | null): PlatformAttributes {
  const out: PlatformAttributes = {
    externalId: user.id,
    userName: firstOf(user, mapping.userName),
    firstName: nonEmpty(user.givenName),
    lastName: nonEmpty(user.surname),
    city: nonEmpty(user.city),
    address: nonEmpty(user.streetAddress),
    zipCode: nonEmpty(user.postalCode),
    homePhone: nonEmpty(user.mobilePhone),
    mobilePhone: nonEmpty(user.mobilePhone),
  };
  if (mapping.email.length) out.email = firstOf(user, mapping.email);
  if (mapping.idpIdentifier.length) out.idpIdentifier = firstOf(user, mapping.idpIdentifier);
  if (mapping.eppn.length) out.eppn = firstOf(user, mapping.eppn);
  if (mapping.ssn.length) out.ssn = firstOf(user, mapping.ssn);
  if (mapping.birthDate && birthday !== undefined) out.birthDate = birthday ? birthday.slice(0, 10) : null;
  return out;
}

/** One platform attribute as a mapping gives it, and where its value came from (`source`: null when every source was empty). */
export interface MappedValue {
  attribute: keyof PlatformAttributes;
  value: string | null;
  /** The Entra property the value came from (the first non-empty of `sources`), or null. */
  source: string | null;
  /** The Entra properties the mapping reads, in order of preference. */
  sources: string[];
}

const FIXED: ReadonlyArray<[keyof PlatformAttributes, keyof GraphUser]> = [
  ["firstName", "givenName"],
  ["lastName", "surname"],
  ["city", "city"],
  ["address", "streetAddress"],
  ["zipCode", "postalCode"],
  ["homePhone", "mobilePhone"],
  ["mobilePhone", "mobilePhone"],
];

/**
 * `mapUser` with its reasons: per platform attribute the value, the Entra property it came from and the ones the
 * mapping reads (for the one-user run and the mapping preview). The values are `mapUser`'s own.
 */
export function explainMapping(user: GraphUser, mapping: MappingConfig, birthday?: string | null): MappedValue[] {
  const mapped = mapUser(user, mapping, birthday);
  const out: MappedValue[] = [{ attribute: "externalId", value: mapped.externalId ?? null, source: "id", sources: ["id"] }];
  const configurable = (attribute: keyof PlatformAttributes & keyof MappingConfig, sources: readonly MappingSource[]) => {
    if (!(attribute in mapped)) return;
    const from = sources.find((s) => valueOf(user, s) !== null) ?? null;
    out.push({ attribute, value: mapped[attribute] ?? null, source: from, sources: [...sources] });
  };
  configurable("userName", mapping.userName);
  configurable("email", mapping.email);
  configurable("idpIdentifier", mapping.idpIdentifier);
  for (const [attribute, prop] of FIXED) out.push({ attribute, value: mapped[attribute] ?? null, source: mapped[attribute] ? prop : null, sources: [prop] });
  configurable("eppn", mapping.eppn);
  configurable("ssn", mapping.ssn);
  if ("birthDate" in mapped) out.push({ attribute: "birthDate", value: mapped.birthDate ?? null, source: mapped.birthDate ? "birthday" : null, sources: ["birthday"] });
  return out;
}
