import { mapLimit } from "../util/concurrency.js";
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

/** 32-bit FNV-1a of a normalised lookup value: a small integer key instead of a string per user and attribute. */
export function lookupHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** How many platform users one lookup reads at once (a page's worth of candidates in a few round trips each). */
const FETCH_CONCURRENCY = 32;

/**
 * A compact key index of one tenant's platform directory for an initial (full) round, which looks up every user: one
 * paged read of the lookup attributes instead of a range query per user. It holds, per user, only its id and a 32-bit
 * hash of each normalised lookup value it will be asked for (externalId and the tenant's linking attribute) — never
 * the users themselves. A lookup turns values into candidate ids and reads those users (the page's candidates, in
 * one batch of point reads): the value is checked on the user as read, so a hash collision or a value changed since
 * the index was built only costs a read. About 100 bytes per user instead of a whole user object.
 */
export async function snapshotLookup(directory: PlatformDirectory, tenantId: string, attributes: readonly LookupAttribute[] = ["externalId"]): Promise<DirectoryLookup & { readonly users: number }> {
  const attrs = [...new Set(attributes)];
  const ids: string[] = [];
  // hash → index into ids, or the indexes when several users share a hash.
  const byAttr = new Map<LookupAttribute, Map<number, number | number[]>>(attrs.map((a) => [a, new Map()]));
  const keys = directory.listKeys ? directory.listKeys(tenantId, attrs) : directory.list(tenantId);
  for await (const u of keys) {
    const i = ids.push(u.id) - 1;
    for (const [attr, map] of byAttr) {
      const v = u[attr];
      if (typeof v !== "string" || !v) continue;
      const h = lookupHash(norm(attr, v));
      const had = map.get(h);
      if (had === undefined) map.set(h, i);
      else if (typeof had === "number") map.set(h, [had, i]);
      else had.push(i);
    }
  }
  return {
    users: ids.length,
    async findBy(t, attribute, values) {
      const map = byAttr.get(attribute);
      if (!map) return directory.findBy(t, attribute, values);
      const candidates = new Map<string, string[]>();
      const wanted = new Set<string>();
      for (const v of values) {
        const hit = map.get(lookupHash(norm(attribute, v)));
        const list = hit === undefined ? [] : typeof hit === "number" ? [ids[hit]!] : hit.map((i) => ids[i]!);
        candidates.set(v, list);
        for (const id of list) wanted.add(id);
      }
      // The page's candidates, read now: always the user as stored (values and ETag), never a copy from the index.
      const read = [...wanted];
      const users = await mapLimit(read, FETCH_CONCURRENCY, (id) => directory.get(t, id));
      const byId = new Map<string, StoredPlatformUser>();
      users.forEach((u) => u && byId.set(u.id, u));
      const out = new Map<string, StoredPlatformUser[]>();
      for (const [v, list] of candidates) {
        const want = norm(attribute, v);
        out.set(
          v,
          list.map((id) => byId.get(id)).filter((u): u is StoredPlatformUser => !!u && typeof u[attribute] === "string" && norm(attribute, u[attribute] as string) === want),
        );
      }
      return out;
    },
    // Every lookup reads its users afresh: nothing to forget.
    invalidate() {},
  };
}
