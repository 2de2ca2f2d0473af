import { closeSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { createCipheriv, randomBytes, type Cipher } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntraSyncError } from "../errors.js";
import { MAPPED_ATTRIBUTES } from "./types.js";
import { normalizeLookup, type LookupAttribute, type PlatformDirectory, type StoredPlatformUser } from "./directory.js";

/** What matching needs from the platform directory. */
export type DirectoryLookup = Pick<PlatformDirectory, "findBy"> & {
  /** Forget users that were just written (their ETags changed): the next lookup reads them afresh. */
  invalidate(ids: Iterable<string>): void;
  /** Releases what the lookup holds (a snapshot's temporary file); lookups after it fail. Safe to call twice. */
  close(): void;
};

const norm = normalizeLookup;

/** Point lookups straight against the directory (incremental rounds: cost in proportion to the changes). */
export function directLookup(directory: PlatformDirectory): DirectoryLookup {
  return { findBy: (t, a, v) => directory.findBy(t, a, v), invalidate: () => {}, close: () => {} };
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

/** The fields a record holds, in this order; anything else a stored user carries rides at the end (rare). */
const FIELDS = ["id", ...MAPPED_ATTRIBUTES, "entraRemovedAt", "entraRemovedReason", "etag"] as const;
const KNOWN = new Set<string>([...FIELDS, "tenantId"]);

/** One user as one flat text: a JSON array of its values in FIELDS order, then an object of any other fields. */
function encode(u: StoredPlatformUser): string {
  const values: unknown[] = FIELDS.map((f) => {
    const v = (u as unknown as Record<string, unknown>)[f];
    return typeof v === "string" && v !== "" ? v : null;
  });
  let extra: Record<string, unknown> | undefined;
  const r = u as unknown as Record<string, unknown>;
  for (const k in r) if (!KNOWN.has(k) && r[k] !== undefined) (extra ??= {})[k] = r[k];
  if (extra) values.push(extra);
  return JSON.stringify(values);
}

function decode(tenantId: string, record: string): StoredPlatformUser {
  const values = JSON.parse(record) as unknown[];
  const extra = values.length > FIELDS.length ? (values[FIELDS.length] as Record<string, unknown>) : undefined;
  const u: Record<string, unknown> = { ...extra, tenantId };
  FIELDS.forEach((f, i) => {
    const v = values[i];
    if (v !== null && v !== undefined) u[f] = v;
  });
  return u as unknown as StoredPlatformUser;
}

/** Records closer than this in the file are read with one system call (the bytes between are read and dropped). */
const SPAN_GAP = 1024;

/**
 * The records of a snapshot, in a file of the instance's temporary directory (`os.tmpdir()`: TMPDIR), encrypted with
 * AES-256-CTR under a key made for this snapshot and held only in memory: what lands on disk is unreadable once the
 * process lets go of the key, and the file is unlinked as soon as it is open (where the OS allows), so a crash leaves
 * nothing behind. Records are appended in 64 KiB chunks. A lookup's records are read together (`readMany`): in file
 * order, neighbours in one read, and deciphered with one call for all of them — the CTR key stream of every block
 * read is AES-256 (one ECB cipher kept for the snapshot) of its counter block (nonce ‖ block number), XORed in. That is
 * what a CTR decipher per record computed, without a cipher object, IV and concatenation per record.
 * (Also the full Immutable ID re-plan's spill file: `what` names the user in the error.)
 */
export class RecordFile {
  private readonly key = randomBytes(32);
  private readonly nonce = randomBytes(8);
  private readonly path: string;
  private fd: number | undefined;
  private unlinked = false;
  private size = 0;
  private chunk: Buffer[] = [];
  private chunkBytes = 0;
  /** AES-256 of single blocks, for the key stream of what is read (created on the first read). */
  private stream: Cipher | undefined;
  /** Reused between reads: the sealed bytes read, and their counter blocks (then key stream). */
  private sealed = Buffer.alloc(0);
  private counters = Buffer.alloc(0);

  constructor(private readonly what = "The full round's directory snapshot") {
    this.path = join(tmpdir(), `entra-sync-snapshot-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      this.fd = openSync(this.path, "wx+", 0o600);
    } catch (e) {
      throw new EntraSyncError("STORAGE_FAILED", `${this.what} needs a file in the temporary directory ${tmpdir()} and cannot make one (${(e as Error).message}); set TMPDIR to a writable directory.`, { cause: e });
    }
    try {
      unlinkSync(this.path);
      this.unlinked = true;
    } catch {
      // Windows keeps an open file's name: it is removed on close.
    }
  }

  /** The counter block for a position in the file (CTR mode: nonce ‖ block number). */
  private iv(block: number): Buffer {
    const iv = Buffer.alloc(16);
    this.nonce.copy(iv, 0);
    iv.writeBigUInt64BE(BigInt(block), 8);
    return iv;
  }

  /** Appends a record; its offset and byte length. */
  append(text: string): { at: number; length: number } {
    const bytes = Buffer.from(text, "utf8");
    const at = this.size + this.chunkBytes;
    this.chunk.push(bytes);
    this.chunkBytes += bytes.length;
    if (this.chunkBytes >= 64 * 1024) this.flush();
    return { at, length: bytes.length };
  }

  /** Writes the buffered records, padded to a whole block so that every write starts a counter block of its own. */
  flush(): void {
    if (this.chunkBytes === 0) return;
    const pad = (16 - (this.chunkBytes % 16)) % 16;
    const plain = Buffer.concat([...this.chunk, Buffer.alloc(pad)]);
    const cipher = createCipheriv("aes-256-ctr", this.key, this.iv(this.size / 16));
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    writeSync(this.fd!, sealed, 0, sealed.length, this.size);
    this.size += sealed.length;
    this.chunk = [];
    this.chunkBytes = 0;
  }

  read(at: number, length: number): string {
    return this.readMany([at], [length])[0]!;
  }

  /** The records at these offsets with these byte lengths, in the order asked. */
  readMany(at: readonly number[], length: readonly number[]): string[] {
    const n = at.length;
    if (n === 0) return [];
    let end = 0;
    for (let i = 0; i < n; i++) end = Math.max(end, at[i]! + length[i]!);
    if (end > this.size) this.flush();
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => at[a]! - at[b]!);
    // Spans of whole blocks in file order, each read into `sealed` after the one before: a record starts a new span
    // unless it begins within SPAN_GAP of the last span's end. `where`: each record's first byte in `sealed`.
    const spans: number[] = []; // per span: first byte in the file, end in the file, first byte in `sealed`
    const where = new Array<number>(n);
    let bytes = 0;
    for (const i of order) {
      const from = at[i]! - (at[i]! % 16);
      const to = Math.ceil((at[i]! + length[i]!) / 16) * 16;
      let s = spans.length - 3;
      if (s < 0 || from > spans[s + 1]! + SPAN_GAP) {
        spans.push(from, to, bytes);
        s = spans.length - 3;
      } else if (to > spans[s + 1]!) spans[s + 1] = to;
      where[i] = spans[s + 2]! + at[i]! - spans[s]!;
      bytes = spans[s + 2]! + spans[s + 1]! - spans[s]!;
    }
    if (this.sealed.length < bytes) {
      this.sealed = Buffer.allocUnsafeSlow(Math.max(bytes, this.sealed.length * 2, 16 * 1024));
      this.counters = Buffer.allocUnsafeSlow(this.sealed.length);
    }
    const { sealed, counters, nonce } = this;
    for (let s = 0; s < spans.length; s += 3) {
      const from = spans[s]!;
      const to = spans[s + 1]!;
      const into = spans[s + 2]!;
      readSync(this.fd!, sealed, into, to - from, from);
      for (let block = from / 16, o = into; o < into + to - from; block++, o += 16) {
        nonce.copy(counters, o);
        counters.writeUInt32BE(Math.floor(block / 2 ** 32), o + 8);
        counters.writeUInt32BE(block >>> 0, o + 12);
      }
    }
    this.stream ??= createCipheriv("aes-256-ecb", this.key, null).setAutoPadding(false);
    const keyStream = this.stream.update(counters.subarray(0, bytes));
    for (let o = 0; o < bytes; o++) sealed[o]! ^= keyStream[o]!;
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = sealed.toString("utf8", where[i]!, where[i]! + length[i]!);
    return out;
  }

  close(): void {
    if (this.fd === undefined) return;
    // The read buffer holds the last records read, deciphered: wiped and let go with the file.
    this.sealed.fill(0);
    this.sealed = this.counters = Buffer.alloc(0);
    this.stream = undefined;
    closeSync(this.fd);
    this.fd = undefined;
    if (!this.unlinked) rmSync(this.path, { force: true });
  }
}

/**
 * An open-addressing table of 32-bit hashes → record numbers in two Int32Arrays (linear probing, at most half full):
 * 16 bytes per entry at worst, no object per entry. Users sharing a hash take a slot each; a lookup returns them all.
 */
export class HashIndex {
  private hashes = new Int32Array(1024);
  private refs = new Int32Array(1024); // record number + 1; 0: an empty slot
  private count = 0;

  add(hash: number, record: number): void {
    if ((this.count + 1) * 2 > this.refs.length) this.grow();
    const mask = this.refs.length - 1;
    let i = hash & mask;
    while (this.refs[i] !== 0) i = (i + 1) & mask;
    this.hashes[i] = hash;
    this.refs[i] = record + 1;
    this.count++;
  }

  find(hash: number): number[] {
    const out: number[] = [];
    const mask = this.refs.length - 1;
    for (let i = hash & mask; this.refs[i] !== 0; i = (i + 1) & mask) if (this.hashes[i] === hash) out.push(this.refs[i]! - 1);
    return out;
  }

  private grow(): void {
    const { hashes, refs } = this;
    this.hashes = new Int32Array(refs.length * 2);
    this.refs = new Int32Array(refs.length * 2);
    this.count = 0;
    for (let i = 0; i < refs.length; i++) if (refs[i] !== 0) this.add(hashes[i]!, refs[i]! - 1);
  }
}

/** Grows a typed array to hold at least `n` elements (doubling). */
export function ensure<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number, make: (len: number) => T): T {
  if (n <= a.length) return a;
  const b = make(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/** How many (user → record) pairs lookups remember for `invalidate`: a few pages' worth. */
const RECENT = 4096;

/**
 * One tenant's platform directory in a compact form, for an initial (full) round, which looks up every user: read
 * with one paged query instead of a range query and a point read per user. In memory it holds per user only numbers
 * in typed arrays — where its record lies in an encrypted temporary file (the user's values and ETag, what matching
 * and the write need), a bit saying it was written during the run, and per lookup attribute it will be asked for
 * (externalId and the tenant's linking attribute) a 32-bit hash of the normalised value in an open-addressing table —
 * no user objects, no strings: about 45 heap bytes per user (`npm run bench -- snapshot-memory`). A lookup reads and
 * decodes only the page's candidates and checks the value on the decoded user, so a hash collision costs nothing but
 * a read. Users written earlier in the run are read again from the directory. `close()` releases the file.
 *
 * Why not read the page's users from the table instead: measured on the local stack, a point read per matched user
 * tripled the full read's CPU (ours and the table service's); a read of the local file costs microseconds.
 */
export async function snapshotLookup(
  directory: PlatformDirectory,
  tenantId: string,
  attributes: readonly LookupAttribute[] = ["externalId"],
  /** Hands every user of the tenant to `add`, once each; default: one listing of the directory. */
  fill: (add: (u: StoredPlatformUser) => void) => Promise<void> = async (add) => {
    for await (const u of directory.list(tenantId)) add(u);
  },
): Promise<DirectoryLookup & { readonly users: number }> {
  const attrs = [...new Set(attributes)];
  const file = new RecordFile();
  let offsets = new Float64Array(1024);
  let lengths = new Int32Array(1024);
  let n = 0;
  const byAttr = new Map<LookupAttribute, HashIndex>(attrs.map((a) => [a, new HashIndex()]));
  try {
    await fill((u) => {
      const { at, length } = file.append(encode(u));
      offsets = ensure(offsets, n + 1, (l) => new Float64Array(l));
      lengths = ensure(lengths, n + 1, (l) => new Int32Array(l));
      offsets[n] = at;
      lengths[n] = length;
      for (const [attr, index] of byAttr) {
        const v = u[attr];
        if (typeof v === "string" && v) index.add(lookupHash(norm(attr, v)), n);
      }
      n++;
    });
    file.flush();
  } catch (e) {
    file.close();
    throw e;
  }
  // Users written during the run, by record: a byte each. Lookups remember which record each user they returned came
  // from (the last few thousand), which is where every written user was found.
  const stale = new Uint8Array(n);
  const recent = new Map<string, number>();
  const staleIds = new Set<string>(); // a written user no lookup returned lately (not expected): by id
  const remember = (id: string, i: number) => {
    recent.delete(id);
    recent.set(id, i);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value as string);
  };
  return {
    users: n,
    async findBy(t, attribute, values) {
      const index = byAttr.get(attribute);
      if (!index) return directory.findBy(t, attribute, values);
      const out = new Map<string, StoredPlatformUser[]>();
      const refresh = new Map<string, number>();
      // Every candidate of every value first, then their records in one read (each record once).
      const wants = values.map((v) => norm(attribute, v));
      const candidates = wants.map((w) => index.find(lookupHash(w)));
      const slot = new Map<number, number>();
      const at: number[] = [];
      const length: number[] = [];
      for (const list of candidates)
        for (const i of list)
          if (!slot.has(i)) {
            slot.set(i, at.length);
            at.push(offsets[i]!);
            length.push(lengths[i]!);
          }
      const records = file.readMany(at, length);
      for (let k = 0; k < values.length; k++) {
        const v = values[k]!;
        const want = wants[k]!;
        const found: StoredPlatformUser[] = [];
        for (const i of candidates[k]!) {
          const u = decode(t, records[slot.get(i)!]!);
          if (typeof u[attribute] !== "string" || norm(attribute, u[attribute] as string) !== want) continue;
          found.push(u);
          remember(u.id, i);
          if (stale[i] || staleIds.has(u.id)) refresh.set(u.id, i);
        }
        out.set(v, found);
      }
      if (refresh.size === 0) return out;
      // Users written earlier in this run: read them again (new ETag, maybe new values), keep what was read (appended
      // to the file; the record now points there), and re-check the value.
      const fresh = new Map<string, StoredPlatformUser | undefined>();
      await Promise.all(
        [...refresh].map(async ([id, i]) => {
          const u = await directory.get(t, id);
          fresh.set(id, u);
          staleIds.delete(id);
          if (!u) return;
          const { at, length } = file.append(encode(u));
          offsets[i] = at;
          lengths[i] = length;
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
    close: () => file.close(),
  };
}
