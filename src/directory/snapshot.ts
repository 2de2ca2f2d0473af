import { MAPPED_ATTRIBUTES } from "./types.js";
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

/** The fields a record holds, in this order; anything else a stored user carries is kept beside it (rare). */
const FIELDS = ["id", ...MAPPED_ATTRIBUTES, "entraRemovedAt", "entraRemovedReason", "etag"] as const;
const KNOWN = new Set<string>([...FIELDS, "tenantId"]);

/** One user as one flat string (a JSON array of its values in FIELDS order): no object, no string per attribute. */
function encode(u: StoredPlatformUser): { record: string; extra?: Record<string, unknown> } {
  const values = FIELDS.map((f) => {
    const v = (u as unknown as Record<string, unknown>)[f];
    return typeof v === "string" && v !== "" ? v : null;
  });
  let extra: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(u)) if (!KNOWN.has(k) && v !== undefined) (extra ??= {})[k] = v;
  return extra ? { record: JSON.stringify(values), extra } : { record: JSON.stringify(values) };
}

function decode(tenantId: string, record: string, extra: Record<string, unknown> | undefined): StoredPlatformUser {
  const values = JSON.parse(record) as Array<string | null>;
  const u: Record<string, unknown> = { ...extra, tenantId };
  FIELDS.forEach((f, i) => {
    const v = values[i];
    if (v !== null && v !== undefined) u[f] = v;
  });
  return u as unknown as StoredPlatformUser;
}

/** How many (user → record) pairs lookups remember for `invalidate`: a few pages' worth. */
const RECENT = 4096;

/**
 * One tenant's platform directory in a compact form, for an initial (full) round, which looks up every user: read
 * with one paged query instead of a range query and a point read per user. Per user it holds one flat string (the
 * user's values and ETag as a JSON array — what matching and the write need) and, per lookup attribute it will be
 * asked for (externalId and the tenant's linking attribute), a 32-bit hash of the normalised value pointing at it: no
 * user objects and no key strings. A lookup decodes only the page's candidates and checks the value on the decoded
 * user, so a hash collision costs nothing but a decode. Users written earlier in the run are read again.
 *
 * Why not read the page's users from the table instead: measured on the local stack, a point read per matched user
 * tripled the full read's CPU (ours and the table service's); see bench/README.md.
 */
export async function snapshotLookup(directory: PlatformDirectory, tenantId: string, attributes: readonly LookupAttribute[] = ["externalId"]): Promise<DirectoryLookup & { readonly users: number }> {
  const attrs = [...new Set(attributes)];
  const records: string[] = [];
  const extras = new Map<number, Record<string, unknown>>();
  // hash → index into records, or the indexes when several users share a hash.
  const byAttr = new Map<LookupAttribute, Map<number, number | number[]>>(attrs.map((a) => [a, new Map()]));
  for await (const u of directory.list(tenantId)) {
    const { record, extra } = encode(u);
    const i = records.push(record) - 1;
    if (extra) extras.set(i, extra);
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
  // Users written during the run, by record: a bit each. Lookups remember which record each user they returned came
  // from (the last few thousand), which is where every written user was found.
  const stale = new Uint8Array(records.length);
  const recent = new Map<string, number>();
  const staleIds = new Set<string>(); // a written user no lookup returned lately (not expected): by id
  const remember = (id: string, i: number) => {
    recent.delete(id);
    recent.set(id, i);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value as string);
  };
  return {
    users: records.length,
    async findBy(t, attribute, values) {
      const map = byAttr.get(attribute);
      if (!map) return directory.findBy(t, attribute, values);
      const out = new Map<string, StoredPlatformUser[]>();
      const refresh = new Map<string, number>();
      for (const v of values) {
        const want = norm(attribute, v);
        const hit = map.get(lookupHash(want));
        const found: StoredPlatformUser[] = [];
        for (const i of hit === undefined ? [] : typeof hit === "number" ? [hit] : hit) {
          const u = decode(t, records[i]!, extras.get(i));
          if (typeof u[attribute] !== "string" || norm(attribute, u[attribute] as string) !== want) continue;
          found.push(u);
          remember(u.id, i);
          if (stale[i] || staleIds.has(u.id)) refresh.set(u.id, i);
        }
        out.set(v, found);
      }
      if (refresh.size === 0) return out;
      // Users written earlier in this run: read them again (new ETag, maybe new values), keep what was read, and
      // re-check the value.
      const fresh = new Map<string, StoredPlatformUser | undefined>();
      await Promise.all(
        [...refresh].map(async ([id, i]) => {
          const u = await directory.get(t, id);
          fresh.set(id, u);
          staleIds.delete(id);
          if (!u) return;
          const { record, extra } = encode(u);
          records[i] = record;
          if (extra) extras.set(i, extra);
          else extras.delete(i);
          stale[i] = 0;
        }),
      );
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
      for (const id of ids) {
        const i = recent.get(id);
        if (i === undefined) staleIds.add(id);
        else stale[i] = 1;
      }
    },
  };
}
