/** Shapes shared by the Entra/Graph/Key Vault simulator and the demo tenant generator. */

export type ExtensionAttributes = Partial<Record<`extensionAttribute${1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15}`, string | null>>;

/** A user as Graph v1.0 serves it (the properties entra-sync selects). */
export interface SimUser {
  id: string;
  userPrincipalName: string;
  displayName: string | null;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  otherMails: string[];
  city: string | null;
  streetAddress: string | null;
  postalCode: string | null;
  mobilePhone: string | null;
  /** ISO 8601 date-time; Graph serves it only from GET /users/{id}?$select=birthday. */
  birthday: string | null;
  onPremisesImmutableId: string | null;
  onPremisesSyncEnabled: boolean | null;
  onPremisesExtensionAttributes: ExtensionAttributes;
  accountEnabled: boolean;
}

/** Simulator-only facts about a user that Graph does not expose as properties. */
export interface SimUserInternals {
  /** Holds a privileged admin role: changing its ImmutableId needs a privileged role (403). */
  privileged?: boolean;
}

export type SimUserInput = Partial<SimUser> & Pick<SimUser, "userPrincipalName"> & SimUserInternals;

export const GRAPH_USER_PROPERTIES = [
  "id",
  "userPrincipalName",
  "displayName",
  "givenName",
  "surname",
  "mail",
  "otherMails",
  "city",
  "streetAddress",
  "postalCode",
  "mobilePhone",
  "birthday",
  "onPremisesImmutableId",
  "onPremisesSyncEnabled",
  "onPremisesExtensionAttributes",
  "accountEnabled",
] as const;
