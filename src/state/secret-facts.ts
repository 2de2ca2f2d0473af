import { odata, type TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import type { SecretInfo } from "../secrets/store.js";
import { getOrUndefined, isConflict, isPreconditionFailed, storageError } from "./tables-client.js";

/** RowKey of a tenant's secret facts in the tenant state table (PartitionKey: tenant id). */
export const SECRET_ROW = "secret";

/**
 * What is known about a tenant's client secret, kept in `tenantstate` under RowKey "secret" and shown by
 * `GET /api/tenants`, the CLI status and `entra-sync expiry`. Never the value, never its hint.
 */
export interface SecretFacts {
  /** The date in force (ISO): Entra's when known for this version, else Key Vault's; absent when neither has one. */
  expiresOn?: string;
  source: "keyVault" | "entra";
  /** The Key Vault secret version these facts describe ("" until a run has read the secret: listings carry none). */
  version: string;
  /**
   * Which stored secret these facts describe: Key Vault's `updated` time and expiry of the current version, in epoch
   * seconds ("1750000000.1790000000"). A listing of secret properties carries these but no version id, so this is
   * what the daily check compares; a new version (or a changed expiry) changes it.
   */
  generation?: string;
  /** The date stored with the secret in Key Vault (ISO). */
  keyVaultExpiresOn?: string;
  /** The endDateTime of the app's passwordCredential whose hint matches the stored secret (ISO). */
  entraEndDateTime?: string;
  /** That credential's keyId: the Secret ID the admin center shows beside it (an identifier, not a secret). */
  entraKeyId?: string;
  /** Entra's date minus Key Vault's, in whole days, when they differ by a day or more. */
  mismatchDays?: number;
  /** The tenant's app may not read its own application object (no Application.Read.All): recorded, not an error. */
  applicationReadDenied?: boolean;
  /** The app's passwordCredentials hold none whose hint matches the stored secret. */
  hintNotFound?: boolean;
  /** When Entra was last asked (ISO). */
  entraCheckedAt?: string;
  /** When these facts were last written (ISO). */
  checkedAt: string;
}

type Entity = SecretFacts & { partitionKey: string; rowKey: string };

/** The row of a tenant's secret facts, for a write: one column per fact (absent facts are not stored). */
export function secretFactsToEntity(tenantId: string, facts: SecretFacts): Entity {
  return { partitionKey: tenantId, rowKey: SECRET_ROW, ...clean(facts) };
}

/** The generation of a stored secret as its listing shows it (see `SecretFacts.generation`). */
export function generationOf(info: { updatedOn?: Date | undefined; expiresOn?: Date | undefined }): string {
  const sec = (d: Date | undefined) => (d ? Math.floor(d.getTime() / 1000).toString() : "0");
  return `${sec(info.updatedOn)}.${sec(info.expiresOn)}`;
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Reads a secret facts row (from a point read or a table scan): every property but the keys and the service's own. */
export function secretFactsFromEntity(e: object): SecretFacts {
  const { partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...facts } = e as Record<string, unknown>;
  // Table Storage adds its own properties ("odata.metadata" …); they are not facts.
  return Object.fromEntries(Object.entries(facts).filter(([k]) => !k.startsWith("odata."))) as unknown as SecretFacts;
}

/** The per-tenant secret facts in the tenant state table; every write is a read-modify-write with ETag. */
export class SecretFactsStore {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string): Promise<SecretFacts | undefined> {
    const e = await getOrUndefined<Entity>(this.table, tenantId, SECRET_ROW);
    return e ? secretFactsFromEntity(e) : undefined;
  }

  /** The facts of every tenant: one query over the tenant state table (RowKey "secret"). */
  async listAll(): Promise<Map<string, SecretFacts>> {
    const out = new Map<string, SecretFacts>();
    try {
      for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter: odata`RowKey eq ${SECRET_ROW}` } })) out.set(e.partitionKey, secretFactsFromEntity(e));
    } catch (e) {
      throw storageError(e, "list the secret facts of all tenants");
    }
    return out;
  }

  /**
   * Records a secret just stored (`secret set`): a new version, so Entra's facts of the old one no longer apply; its
   * date is Key Vault's until the daily check or a run asks Entra.
   */
  async recordStored(info: SecretInfo, now: Date): Promise<SecretFacts> {
    const kv = info.expiresOn?.toISOString();
    return this.update(info.tenantId, (cur) => ({
      ...(cur?.applicationReadDenied ? { applicationReadDenied: true } : {}),
      source: "keyVault",
      version: info.version,
      generation: generationOf(info),
      ...(kv ? { expiresOn: kv, keyVaultExpiresOn: kv } : {}),
      checkedAt: now.toISOString(),
    }));
  }

  /**
   * Changes the facts of a tenant with optimistic concurrency: `change` gets the current facts (or undefined) and
   * returns the new ones; a concurrent writer makes it run again on fresh facts.
   */
  async update(tenantId: string, change: (current: SecretFacts | undefined) => SecretFacts): Promise<SecretFacts> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await getOrUndefined<Entity>(this.table, tenantId, SECRET_ROW);
      const next = clean(change(e ? secretFactsFromEntity(e) : undefined));
      const entity = secretFactsToEntity(tenantId, next);
      try {
        if (e) await this.table.updateEntity(entity, "Replace", { etag: e.etag });
        else await this.table.createEntity(entity);
        return next;
      } catch (err) {
        if (isConflict(err) || isPreconditionFailed(err)) continue;
        throw storageError(err, `save the secret facts of tenant ${tenantId}`);
      }
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `The secret facts of tenant ${tenantId} kept changing under this writer; try again.`);
  }
}
