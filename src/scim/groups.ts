import { randomUUID } from "node:crypto";
import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { encodeKey, getOrUndefined, isConflict, storageError, TABLE_LIMITS } from "../state/tables-client.js";
import { mapLimit } from "../util/concurrency.js";

/** A SCIM group as stored: its representation (without members) and its member ids. */
export interface StoredGroup {
  id: string;
  displayName: string;
  /** Other attributes as the client sent them (externalId …), JSON. */
  document: Record<string, unknown>;
  created: string;
  lastModified: string;
  etag: string;
}

const GROUP = "g|";
const NAME = "n|";
const MEMBER = "m|";
const nameKey = (displayName: string) => `${NAME}${encodeKey(displayName.trim().toLowerCase())}`;
const memberPrefix = (groupId: string) => `${MEMBER}${groupId}|`;

/**
 * SCIM groups of every tenant (one partition per tenant): a row per group, a row per member (`m|group|member`, so a
 * group of any size is read with one range query and changed by blind upserts and deletes), and a row per display
 * name (`n|name`) created in the same transaction as the group, so a second group with the same name (ignoring case)
 * fails as a whole.
 */
export class ScimGroupStore {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string, id: string): Promise<StoredGroup | undefined> {
    if (!/^[\w-]{1,128}$/.test(id)) return undefined;
    const e = await getOrUndefined<Record<string, unknown>>(this.table, tenantId, `${GROUP}${id}`);
    return e ? fromRow(e) : undefined;
  }

  async list(tenantId: string): Promise<StoredGroup[]> {
    const out: StoredGroup[] = [];
    try {
      for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${GROUP} and RowKey lt ${"g}"}` } })) out.push(fromRow(e));
    } catch (e) {
      throw storageError(e, `list the SCIM groups of tenant ${tenantId}`);
    }
    return out;
  }

  async members(tenantId: string, id: string): Promise<string[]> {
    const prefix = memberPrefix(id);
    const out: string[] = [];
    try {
      for await (const e of this.table.listEntities<object>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${prefix} and RowKey lt ${`${prefix.slice(0, -1)}}`}`, select: ["RowKey"] } }))
        out.push(decodeURIComponent((e.rowKey as string).slice(prefix.length)));
    } catch (e) {
      throw storageError(e, `read the members of SCIM group ${id}`);
    }
    return out;
  }

  /** Creates a group with its name claim; DIRECTORY_DUPLICATE when another group has the name (ignoring case). */
  async create(tenantId: string, displayName: string, document: Record<string, unknown>, members: readonly string[], now: string): Promise<StoredGroup> {
    const id = randomUUID();
    const row = { partitionKey: tenantId, rowKey: `${GROUP}${id}`, displayName, document: JSON.stringify(document), created: now, lastModified: now };
    checkSize(row.document);
    try {
      await this.table.submitTransaction([
        ["create", row],
        ["create", { partitionKey: tenantId, rowKey: nameKey(displayName), groupId: id }],
      ]);
    } catch (e) {
      if (isConflict(e) || (await getOrUndefined(this.table, tenantId, nameKey(displayName)))) throw new EntraSyncError("DIRECTORY_DUPLICATE", `A group named "${displayName}" already exists.`, { field: "displayName", retryable: false, cause: e });
      throw storageError(e, `create SCIM group "${displayName}"`);
    }
    await this.changeMembers(tenantId, id, members, []);
    return (await this.get(tenantId, id))!;
  }

  /** Writes a group's new name and document (guarded by its ETag) and its member changes. */
  async update(tenantId: string, current: StoredGroup, displayName: string, document: Record<string, unknown>, add: readonly string[], remove: readonly string[], now: string): Promise<void> {
    const json = JSON.stringify(document);
    checkSize(json);
    const actions: TransactionAction[] = [["update", { partitionKey: tenantId, rowKey: `${GROUP}${current.id}`, displayName, document: json, created: current.created, lastModified: now }, "Replace", { etag: current.etag }]];
    if (nameKey(displayName) !== nameKey(current.displayName)) {
      actions.push(["delete", { partitionKey: tenantId, rowKey: nameKey(current.displayName) }]);
      actions.push(["create", { partitionKey: tenantId, rowKey: nameKey(displayName), groupId: current.id }]);
    }
    try {
      await this.table.submitTransaction(actions);
    } catch (e) {
      const holder = await getOrUndefined<{ groupId?: string }>(this.table, tenantId, nameKey(displayName));
      if (holder && holder.groupId !== current.id) throw new EntraSyncError("DIRECTORY_DUPLICATE", `A group named "${displayName}" already exists.`, { field: "displayName", retryable: false, cause: e });
      throw new EntraSyncError("STORAGE_CONFLICT", `SCIM group ${current.id} changed since it was read; read it again.`, { cause: e });
    }
    await this.changeMembers(tenantId, current.id, add, remove);
  }

  async remove(tenantId: string, group: StoredGroup): Promise<void> {
    const members = await this.members(tenantId, group.id);
    await this.changeMembers(tenantId, group.id, [], members);
    try {
      await this.table.submitTransaction([
        ["delete", { partitionKey: tenantId, rowKey: `${GROUP}${group.id}` }],
        ["delete", { partitionKey: tenantId, rowKey: nameKey(group.displayName) }],
      ]);
    } catch (e) {
      throw storageError(e, `delete SCIM group ${group.id}`);
    }
  }

  /** Takes a user out of every group of the tenant (a user erased): one range read of the member rows, then deletes. */
  async dropMember(tenantId: string, userId: string): Promise<number> {
    const suffix = `|${encodeKey(userId)}`;
    const rows: string[] = [];
    try {
      for await (const e of this.table.listEntities<object>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${MEMBER} and RowKey lt ${"m}"}`, select: ["RowKey"] } })) {
        const rk = e.rowKey as string;
        // m|<group id>|<member>: a group id never holds "|", so the member is what follows the second one.
        if (rk.indexOf("|", MEMBER.length) === rk.length - suffix.length && rk.endsWith(suffix)) rows.push(rk);
      }
    } catch (e) {
      throw storageError(e, `read the SCIM group members of tenant ${tenantId}`);
    }
    await mapLimit(rows, 16, async (rowKey) => {
      try {
        await this.table.deleteEntity(tenantId, rowKey);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw storageError(e, `remove a member of a SCIM group of tenant ${tenantId}`);
      }
    });
    return rows.length;
  }

  private async changeMembers(tenantId: string, id: string, add: readonly string[], remove: readonly string[]): Promise<void> {
    const key = (m: string) => `${memberPrefix(id)}${encodeKey(m)}`;
    for (const m of add) if (key(m).length > TABLE_LIMITS.keyChars || !m) throw new EntraSyncError("INPUT_INVALID", `Member value "${m.slice(0, 80)}" is not a user id.`, { field: "members" });
    const actions: TransactionAction[] = [...add.map((m): TransactionAction => ["upsert", { partitionKey: tenantId, rowKey: key(m) }, "Replace"])];
    const chunks: TransactionAction[][] = [];
    for (let i = 0; i < actions.length; i += 100) chunks.push(actions.slice(i, i + 100));
    await mapLimit(chunks, 4, async (c) => {
      try {
        await this.table.submitTransaction(c);
      } catch (e) {
        throw storageError(e, `add members to SCIM group ${id}`);
      }
    });
    // Deletes one by one: a member already gone is no failure (a transaction would fail as a whole).
    await mapLimit(remove, 16, async (m) => {
      try {
        await this.table.deleteEntity(tenantId, key(m));
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw storageError(e, `remove a member of SCIM group ${id}`);
      }
    });
  }
}

function checkSize(json: string) {
  if (json.length > TABLE_LIMITS.stringChars) throw new EntraSyncError("INPUT_INVALID", `The group's attributes take ${json.length} characters; at most ${TABLE_LIMITS.stringChars} are stored.`, { field: "group" });
}

function fromRow(e: Record<string, unknown>): StoredGroup {
  let document: Record<string, unknown> = {};
  try {
    document = JSON.parse(String(e.document ?? "{}")) as Record<string, unknown>;
  } catch {}
  return { id: String(e.rowKey).slice(GROUP.length), displayName: String(e.displayName), document, created: String(e.created), lastModified: String(e.lastModified), etag: String(e.etag) };
}
