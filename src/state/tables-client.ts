import { TableClient, type TableServiceClientOptions } from "@azure/data-tables";
import type { TokenCredential } from "@azure/core-auth";
import { RestError } from "@azure/core-rest-pipeline";
import { EntraSyncError } from "../errors.js";
import type { Settings } from "../config/settings.js";
import { TABLES, type TableName } from "./tables.js";
import { tableRequestCounterPolicy } from "../util/run-metrics.js";
import { useOwnTransactions } from "./table-transaction.js";

export type TableClients = Record<keyof typeof TABLES, TableClient>;

/**
 * Table Storage's limits (Azurite enforces only some of them, so the app checks them before it writes). Keys may be
 * 1 KiB and string properties 64 KiB; strings are stored as UTF-16, so in the strictest reading that is 512 and
 * 32,768 UTF-16 code units (what `String.length` counts). An entity holds at most 1 MiB, a transaction at most 100
 * entities and 4 MiB.
 */
export const TABLE_LIMITS = { keyChars: 512, stringChars: 32_768, entityBytes: 1024 * 1024, transactionEntities: 100, transactionBytes: 4 * 2 ** 20 } as const;

/**
 * The stored size of an entity of string, number and boolean properties, as Table Storage counts it: 4 bytes + 2 per
 * key character, and for each property 8 bytes + 2 per name character + its value (a string: 4 + 2 per character).
 */
export function entityBytes(e: Record<string, unknown>): number {
  let n = 4 + 2 * (String(e.partitionKey).length + String(e.rowKey).length);
  for (const [k, v] of Object.entries(e)) {
    if (k === "partitionKey" || k === "rowKey") continue;
    n += 8 + 2 * k.length + (typeof v === "string" ? 4 + 2 * v.length : typeof v === "boolean" ? 1 : 8);
  }
  return n;
}

/** Builds one TableClient per table from the storage settings (connection string locally, identity in Azure). */
export function createTableClients(storage: Settings["storage"], credential: TokenCredential): TableClients {
  const make = (name: TableName): TableClient => {
    let client: TableClient;
    let options: TableServiceClientOptions = {};
    if (storage.kind === "connectionString") {
      options = /^DefaultEndpointsProtocol=http;|TableEndpoint=http:\/\//i.test(storage.connectionString) ? { allowInsecureConnection: true } : {};
      client = TableClient.fromConnectionString(storage.connectionString, name, options);
    } else client = new TableClient(storage.tableUrl, name, credential);
    // Every request is counted into the run that sent it (the run report's metrics).
    client.pipeline.addPolicy(tableRequestCounterPolicy);
    // Transactions of plain entities are serialized by our own code (same request, a fraction of the SDK's CPU).
    return useOwnTransactions(client, { allowInsecureConnection: options.allowInsecureConnection ?? false });
  };
  const out = {} as TableClients;
  for (const [key, name] of Object.entries(TABLES) as Array<[keyof typeof TABLES, TableName]>) out[key] = make(name);
  return out;
}

/** Creates every table that does not exist yet (locally; in Azure the template creates them). */
export async function ensureTables(clients: TableClients): Promise<void> {
  await Promise.all(Object.values(clients).map((c) => c.createTable()));
}

export function statusOf(e: unknown): number | undefined {
  if (e instanceof RestError) return e.statusCode;
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === "number" ? s : undefined;
}

export const isNotFound = (e: unknown): boolean => statusOf(e) === 404;
export const isConflict = (e: unknown): boolean => statusOf(e) === 409;
export const isPreconditionFailed = (e: unknown): boolean => statusOf(e) === 412;

/** Reads one entity, or undefined when it does not exist. */
export async function getOrUndefined<T extends object>(client: TableClient, pk: string, rk: string): Promise<(T & { etag: string; partitionKey: string; rowKey: string }) | undefined> {
  try {
    return (await client.getEntity<T>(pk, rk)) as T & { etag: string; partitionKey: string; rowKey: string };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw storageError(e, `read ${client.tableName}/${pk}/${rk}`);
  }
}

/**
 * Deletes every row `filter` finds (only their keys are read), in transactions of up to 100 rows of one partition,
 * sent as the rows are read; `keep` spares rows. Returns how many rows went; a failure names `what` (e.g. "prune
 * expired holds").
 */
export async function deleteWhere(client: TableClient, filter: string, what: string, keep?: (row: { partitionKey: string; rowKey: string }) => boolean | Promise<boolean>): Promise<number> {
  const pending = new Map<string, string[]>();
  let n = 0;
  const flush = async (partitionKey: string) => {
    const rowKeys = pending.get(partitionKey) ?? [];
    pending.delete(partitionKey);
    if (rowKeys.length) await client.submitTransaction(rowKeys.map((rowKey) => ["delete", { partitionKey, rowKey }]));
    n += rowKeys.length;
  };
  try {
    for await (const e of client.listEntities({ queryOptions: { filter, select: ["PartitionKey", "RowKey"] } })) {
      const row = { partitionKey: e.partitionKey!, rowKey: e.rowKey! };
      if (keep && (await keep(row))) continue;
      const list = pending.get(row.partitionKey) ?? [];
      list.push(row.rowKey);
      pending.set(row.partitionKey, list);
      if (list.length >= TABLE_LIMITS.transactionEntities) await flush(row.partitionKey);
    }
    for (const partitionKey of [...pending.keys()]) await flush(partitionKey);
  } catch (e) {
    throw storageError(e, what);
  }
  return n;
}

export function storageError(e: unknown, what: string): EntraSyncError {
  if (e instanceof EntraSyncError) return e;
  const status = statusOf(e);
  if (status === 412 || status === 409) return new EntraSyncError("STORAGE_CONFLICT", `Table Storage refused to ${what}: someone else changed it first (HTTP ${status}).`, { cause: e });
  return new EntraSyncError("STORAGE_FAILED", `Table Storage could not ${what}${status ? ` (HTTP ${status})` : ""}.`, { cause: e });
}

/** Encodes any string into a legal RowKey/PartitionKey (no / \ # ? or control characters). */
export function encodeKey(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
