import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { odata, type TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { getOrUndefined, isNotFound, isPreconditionFailed, storageError } from "../state/tables-client.js";

/** What is kept of a SCIM Secret Token: never the token, only its SHA-256. */
export interface ScimTokenInfo {
  tokenId: string;
  tenantId: string;
  createdAt: string;
  lastUsedAt?: string | undefined;
}

/** A token as minted: the value is shown once and not kept. */
export interface MintedToken {
  token: string;
  info: ScimTokenInfo;
}

const PARTITION = "token";
/** `scim_<18 hex: lookup id>_<43 base64url: 256 random bits>`: short enough for Entra's Secret Token field. */
const TOKEN = /^scim_([0-9a-f]{18})_([A-Za-z0-9_-]{43})$/;
/** At most two live tokens per tenant: the one Entra holds and the one replacing it. */
export const MAX_LIVE_TOKENS = 2;
const LAST_USED_EVERY_MS = 10 * 60_000;
/** A verified token is believed this long without reading its row again (revocation reaches other instances within it). */
export const VERIFIED_CACHE_MS = 10_000;

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();
const DUMMY = sha256("scim-token-that-does-not-exist");

interface TokenRow {
  tenantId: string;
  hash: string;
  createdAt: string;
  lastUsedAt?: string;
}

/**
 * The SCIM Secret Tokens of every tenant, in a table of their own (PartitionKey "token", RowKey token id). The lookup
 * id inside a token finds its row, so the token alone says which tenant it opens; the rest is compared, as a
 * SHA-256, in constant time. A 256-bit random token needs no slow password hash: nothing can be guessed from its hash.
 */
export class ScimTokenStore {
  private readonly lastWritten = new Map<string, number>();
  /** SHA-256 (hex) of a recently verified token → its tenant and when it was checked. */
  private readonly verified = new Map<string, { tenantId: string; tokenId: string; at: number }>();
  constructor(
    private readonly table: TableClient,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Mints the tenant's first token; refused when it already has one (use rotate). */
  async create(tenantId: string): Promise<MintedToken> {
    const live = await this.list(tenantId);
    if (live.length) throw new EntraSyncError("INPUT_INVALID", `Tenant ${tenantId} already has a SCIM token (${live.map((t) => t.tokenId).join(", ")}); use "scim token rotate" to make a second one, then "scim token revoke" the old one.`, { field: "tenant" });
    return this.mint(tenantId);
  }

  /**
   * Mints a new token beside the live one, so that Entra keeps working until the admin has pasted the new one. With
   * two live tokens already, the older is revoked first (its id is returned).
   */
  async rotate(tenantId: string): Promise<MintedToken & { revoked: string[] }> {
    const live = (await this.list(tenantId)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const revoked: string[] = [];
    while (live.length >= MAX_LIVE_TOKENS) {
      const old = live.shift()!;
      await this.remove(old.tokenId);
      revoked.push(old.tokenId);
    }
    return { ...(await this.mint(tenantId)), revoked };
  }

  /** Revokes one token of the tenant (by id) or all of them; returns the ids revoked. */
  async revoke(tenantId: string, which: { tokenId: string } | { all: true }): Promise<string[]> {
    const live = await this.list(tenantId);
    const targets = "all" in which ? live : live.filter((t) => t.tokenId === which.tokenId);
    if (!targets.length) throw new EntraSyncError("INPUT_INVALID", "tokenId" in which ? `Tenant ${tenantId} has no SCIM token ${which.tokenId} (see "scim token list").` : `Tenant ${tenantId} has no SCIM token.`, { field: "token-id" });
    for (const t of targets) await this.remove(t.tokenId);
    return targets.map((t) => t.tokenId);
  }

  async list(tenantId: string): Promise<ScimTokenInfo[]> {
    const out: ScimTokenInfo[] = [];
    try {
      for await (const e of this.table.listEntities<TokenRow>({ queryOptions: { filter: odata`PartitionKey eq ${PARTITION} and tenantId eq ${tenantId}` } }))
        out.push({ tokenId: e.rowKey!, tenantId: e.tenantId, createdAt: e.createdAt, ...(e.lastUsedAt ? { lastUsedAt: e.lastUsedAt } : {}) });
    } catch (e) {
      throw storageError(e, `list the SCIM tokens of tenant ${tenantId}`);
    }
    return out;
  }

  /** The live tokens of every tenant (never their hashes), in one query: which tenants have SCIM on. */
  async listAll(): Promise<ScimTokenInfo[]> {
    const out: ScimTokenInfo[] = [];
    try {
      for await (const e of this.table.listEntities<TokenRow>({ queryOptions: { filter: odata`PartitionKey eq ${PARTITION}` } }))
        out.push({ tokenId: e.rowKey!, tenantId: e.tenantId, createdAt: e.createdAt, ...(e.lastUsedAt ? { lastUsedAt: e.lastUsedAt } : {}) });
    } catch (e) {
      throw storageError(e, "list the SCIM tokens");
    }
    return out;
  }

  /**
   * The tenant and token id a presented token opens, or undefined. Always one hash comparison of the same length,
   * also for a malformed token or an unknown id, so that timing says nothing about which part was wrong.
   */
  async verify(presented: string): Promise<{ tenantId: string; tokenId: string } | undefined> {
    const digest = sha256(presented);
    const hit = this.verified.get(digest.toString("hex"));
    if (hit && this.clock().getTime() - hit.at < VERIFIED_CACHE_MS) return { tenantId: hit.tenantId, tokenId: hit.tokenId };
    const m = TOKEN.exec(presented);
    const row = m ? await getOrUndefined<TokenRow>(this.table, PARTITION, m[1]!) : undefined;
    const stored = row && /^[0-9a-f]{64}$/.test(row.hash) ? Buffer.from(row.hash, "hex") : DUMMY;
    const same = timingSafeEqual(digest, stored);
    if (!m || !row || !same) return undefined;
    this.touch(m[1]!, row);
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(digest.toString("hex"), { tenantId: row.tenantId, tokenId: m[1]!, at: this.clock().getTime() });
    return { tenantId: row.tenantId, tokenId: m[1]! };
  }

  private async mint(tenantId: string): Promise<MintedToken> {
    const tokenId = randomBytes(9).toString("hex");
    const token = `scim_${tokenId}_${randomBytes(32).toString("base64url")}`;
    const createdAt = this.clock().toISOString();
    try {
      await this.table.createEntity<TokenRow>({ partitionKey: PARTITION, rowKey: tokenId, tenantId, hash: sha256(token).toString("hex"), createdAt });
    } catch (e) {
      throw storageError(e, `store a SCIM token of tenant ${tenantId}`);
    }
    return { token, info: { tokenId, tenantId, createdAt } };
  }

  private async remove(tokenId: string): Promise<void> {
    for (const [k, v] of this.verified) if (v.tokenId === tokenId) this.verified.delete(k);
    try {
      await this.table.deleteEntity(PARTITION, tokenId);
    } catch (e) {
      if (!isNotFound(e)) throw storageError(e, `revoke SCIM token ${tokenId}`);
    }
  }

  /** Records when a token was last used (at most every ten minutes per process; a concurrent write wins). */
  private touch(tokenId: string, row: TokenRow & { etag: string }): void {
    const now = this.clock().getTime();
    if (now - (this.lastWritten.get(tokenId) ?? 0) < LAST_USED_EVERY_MS) return;
    this.lastWritten.set(tokenId, now);
    void this.table
      .updateEntity({ partitionKey: PARTITION, rowKey: tokenId, lastUsedAt: new Date(now).toISOString() }, "Merge", { etag: row.etag })
      .catch((e: unknown) => {
        if (!isPreconditionFailed(e) && !isNotFound(e)) this.lastWritten.delete(tokenId);
      });
  }
}
