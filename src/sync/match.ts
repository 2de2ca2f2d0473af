import type { StoredPlatformUser } from "../directory/directory.js";
import type { DirectoryLookup } from "../directory/snapshot.js";
import type { GraphUser } from "../graph/users.js";
import type { Tenant } from "../tenants/model.js";

export type MatchResult =
  | { kind: "matched"; user: StoredPlatformUser; linked: boolean }
  | { kind: "ambiguous"; candidates: string[] }
  | { kind: "unmatched" };

/**
 * Matches Entra users to platform users: `externalId == id` first; where the tenant enables linking, a configured
 * key (case-insensitive) links a platform user that has no externalId yet. Two candidates is ambiguous: never guess.
 */
export async function matchUsers(directory: Pick<DirectoryLookup, "findBy">, tenant: Pick<Tenant, "tenantId" | "linking">, users: readonly GraphUser[]): Promise<Map<string, MatchResult>> {
  const out = new Map<string, MatchResult>();
  if (users.length === 0) return out;
  const byExternal = await directory.findBy(tenant.tenantId, "externalId", users.map((u) => u.id));
  const toLink: GraphUser[] = [];
  for (const u of users) {
    const found = byExternal.get(u.id) ?? [];
    if (found.length === 1) out.set(u.id, { kind: "matched", user: found[0]!, linked: false });
    else if (found.length > 1) out.set(u.id, { kind: "ambiguous", candidates: found.map((f) => f.id) });
    else toLink.push(u);
  }
  const linking = tenant.linking;
  if (!linking || toLink.length === 0) {
    for (const u of toLink) out.set(u.id, { kind: "unmatched" });
    return out;
  }
  const keyOf = (u: GraphUser): string | undefined => {
    const v = linking.entra === "userPrincipalName" ? u.userPrincipalName : u.mail;
    return v ? v.trim().toLowerCase() : undefined;
  };
  const keys = toLink.map(keyOf).filter((k): k is string => !!k);
  const byKey = await directory.findBy(tenant.tenantId, linking.platform, keys);
  // A key shared by two Entra users in this batch cannot link either of them.
  const keyCount = new Map<string, number>();
  for (const k of keys) keyCount.set(k, (keyCount.get(k) ?? 0) + 1);
  for (const u of toLink) {
    const k = keyOf(u);
    if (!k) {
      out.set(u.id, { kind: "unmatched" });
      continue;
    }
    const candidates = (byKey.get(k) ?? []).filter((p) => !p.externalId || p.externalId === u.id);
    if ((keyCount.get(k) ?? 0) > 1 && candidates.length > 0) out.set(u.id, { kind: "ambiguous", candidates: candidates.map((c) => c.id) });
    else if (candidates.length === 1) out.set(u.id, { kind: "matched", user: candidates[0]!, linked: true });
    else if (candidates.length > 1) out.set(u.id, { kind: "ambiguous", candidates: candidates.map((c) => c.id) });
    else out.set(u.id, { kind: "unmatched" });
  }
  return out;
}
