/** Graph user properties entra-sync reads (v1.0). */
export type ExtensionAttributes = Partial<Record<string, string | null>>;

export interface GraphUser {
  id: string;
  userPrincipalName?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  mail?: string | null;
  otherMails?: string[] | null;
  city?: string | null;
  streetAddress?: string | null;
  postalCode?: string | null;
  mobilePhone?: string | null;
  onPremisesImmutableId?: string | null;
  onPremisesSyncEnabled?: boolean | null;
  onPremisesExtensionAttributes?: ExtensionAttributes | null;
  accountEnabled?: boolean | null;
}

/** One entry of a delta page: a user (complete or only its changed properties) or a removal. */
export type DeltaEntry = (Partial<GraphUser> & { id: string }) & { "@removed"?: { reason: "changed" | "deleted" | string } };

/**
 * Merges a delta entry into the last-seen state of the user. A property that is absent is unchanged, a property
 * that is `null` is cleared (Graph's `Prefer: return=minimal` contract). Unknown properties (annotations) are
 * ignored. Returns a new object.
 */
export function mergeDeltaEntry(previous: GraphUser | undefined, entry: DeltaEntry): GraphUser {
  const out: GraphUser = { ...(previous ?? {}), id: entry.id };
  for (const [key, value] of Object.entries(entry)) {
    if (key === "id" || key.startsWith("@") || key.includes("@odata")) continue;
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}
