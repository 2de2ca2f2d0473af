/**
 * A user of the platform directory, in the platform's own words. Only `id` and `tenantId` are required; every other
 * attribute may be missing. `externalId` is the Entra object id once the user is linked.
 */
export interface PlatformUser {
  id: string;
  tenantId: string;
  externalId?: string | undefined;
  userName?: string | undefined;
  email?: string | undefined;
  idpIdentifier?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  city?: string | undefined;
  address?: string | undefined;
  zipCode?: string | undefined;
  birthDate?: string | undefined;
  homePhone?: string | undefined;
  mobilePhone?: string | undefined;
  eppn?: string | undefined;
  ssn?: string | undefined;
  /** Set by update sync when the linked Entra user was removed (never deleted). */
  entraRemovedAt?: string | undefined;
  entraRemovedReason?: "changed" | "deleted" | undefined;
  /** Set when Entra's provisioning service deactivated the user (SCIM `active: false`); nothing else is removed. */
  inactiveAt?: string | undefined;
  /** The user holds its userName alone in the tenant (users created through SCIM): a second user cannot take it. */
  uniqueUserName?: boolean | undefined;
  /** The user holds its externalId alone in the tenant (users created through SCIM), removed or not. */
  uniqueExternalId?: boolean | undefined;
  /** The SCIM representation as Entra last sent it (JSON), so that it can be answered back unchanged. */
  scimDocument?: string | undefined;
  /** Attributes without a platform column, as JSON `{ "<prefix>.<name>": value }` (SCIM custom extension attributes). */
  extraAttributes?: string | undefined;
}

/** The attributes update sync may write (everything but the identity and bookkeeping fields). */
export const MAPPED_ATTRIBUTES = [
  "externalId",
  "userName",
  "email",
  "idpIdentifier",
  "firstName",
  "lastName",
  "city",
  "address",
  "zipCode",
  "birthDate",
  "homePhone",
  "mobilePhone",
  "eppn",
  "ssn",
] as const;

export type MappedAttribute = (typeof MAPPED_ATTRIBUTES)[number];
export type PlatformAttributes = Partial<Record<MappedAttribute, string | null>>;
