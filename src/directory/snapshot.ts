import { normalizeLookup, type LookupAttribute, type PlatformDirectory, type StoredPlatformUser } from "./directory.js";

/** What matching needs from the platform directory. */
export type DirectoryLookup = Pick<PlatformDirectory, "findBy"> & {
  /** Forget users that were just written (their ETags changed): the next lookup reads them afresh. */
  invalidate(ids: Iterable<string>): void;
};

const norm = normalizeLookup;

/** Point lookups straight against the directory (incremental rounds: cost in proportion to the changes). */
export function directLookup(directory: PlatformDirectory): DirectoryLookup {
  return { findBy: (t, a, v) => directory.findBy(t, a, v), invalidate: () => {} };
}

/**
 * The whole directory of one tenant in memory, read with one paged query: an initial (full) round looks up every
 * user, and one partition scan costs far fewer round trips than two point reads per user.
 */
export async function snapshotLookup(directory: PlatformDirectory, tenantId: string): Promise<DirectoryLookup> {
  const byAttr: Record<LookupAttribute, Map<string, StoredPlatformUser[]>> = { externalId: new Map(), userName: new Map(), email: new Map() };
  const stale = new Set<string>();
  for await (const u of directory.list(tenantId)) {
    for (const attr of Object.keys(byAttr) as LookupAttribute[]) {
      const v = u[attr];
      if (typeof v !== "string" || !v) continue;
      const k = norm(attr, v);
      const list = byAttr[attr].get(k);
      if (list) list.push(u);
      else byAttr[attr].set(k, [u]);
    }
  }
  return {
    async findBy(t, attribute, values) {
      const out = new Map<string, StoredPlatformUser[]>();
      const refresh = new Set<string>();
      for (const v of values) {
        const found = byAttr[attribute].get(norm(attribute, v)) ?? [];
        out.set(v, found);
        for (const u of found) if (stale.has(u.id)) refresh.add(u.id);
      }
      if (refresh.size === 0) return out;
      // Users written earlier in this run: read them again (new ETag, maybe new values), then re-check the value.
      const fresh = new Map<string, StoredPlatformUser | undefined>();
      await Promise.all([...refresh].map(async (id) => fresh.set(id, await directory.get(t, id))));
      for (const [v, list] of out) {
        out.set(
          v,
          list
            .map((u) => (fresh.has(u.id) ? fresh.get(u.id) : u))
            .filter((u): u is StoredPlatformUser => !!u && typeof u[attribute] === "string" && norm(attribute, u[attribute] as string) === norm(attribute, v)),
        );
      }
      return out;
    },
    invalidate(ids) {
      for (const id of ids) stale.add(id);
    },
  };
}
