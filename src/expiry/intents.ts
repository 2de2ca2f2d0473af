import { odata, type TableClient } from "@azure/data-tables";
import { deleteWhere, encodeKey, getOrUndefined, isConflict, isNotFound, isPreconditionFailed, storageError } from "../state/tables-client.js";

export type AlertKind = "threshold" | "rotated" | "authFailure" | "authFixed";
/** What an intent is for: a customer alert, or a mail to the operators (src/alerts/). */
export type IntentKind = AlertKind | "operator";

/**
 * One mail that is meant to go out exactly once, in the `alerts` table (PartitionKey tenant id, RowKey "intent~" +
 * the alert key). `pending` while someone sends it, `sent` for good, `failed` when the transport gave up (sent again
 * by the next check or run).
 */
export interface AlertIntent {
  tenantId: string;
  key: string;
  kind: IntentKind;
  status: "pending" | "sent" | "failed";
  /** When the current sender claimed it (ISO). */
  claimedAt: string;
  /** Claims so far (a resend after a crash or failure is the second). */
  attempts: number;
  sentAt?: string;
  subject?: string;
  /** To and Cc, comma-separated (addresses are not secret). */
  recipients?: string;
  transport?: string;
  messageId?: string;
  /** Outbox transport: the .eml file. */
  path?: string;
  /** Why the last send failed (the transport's error; never mail content). */
  lastError?: string;
}

/** The right to send one intent, held by whoever claimed it. */
export interface Claim {
  tenantId: string;
  key: string;
  etag: string;
  attempts: number;
}

type Entity = Omit<AlertIntent, "tenantId" | "key"> & { partitionKey: string; rowKey: string };

/** Default time after which a pending intent counts as abandoned (its sender crashed) and may be sent again. */
export const PENDING_TIMEOUT_MS = 30 * 60_000;

const intentRow = (key: string) => `intent~${encodeKey(key)}`;
const stateRow = (name: string) => `state~${encodeKey(name)}`;

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Exactly-once bookkeeping of alert mails with ETag concurrency. `claim` creates the intent if it does not exist
 * (only one of two concurrent claimers wins the create), or takes over a failed one, or a pending one older than the
 * timeout (its sender died between claiming and marking it sent). Everything else is someone else's or done.
 */
export class AlertIntentStore {
  constructor(
    private readonly table: TableClient,
    private readonly clock: () => Date,
    readonly pendingTimeoutMs: number = PENDING_TIMEOUT_MS,
  ) {}

  async get(tenantId: string, key: string): Promise<AlertIntent | undefined> {
    const e = await getOrUndefined<Entity>(this.table, tenantId, intentRow(key));
    return e ? toIntent(tenantId, key, e) : undefined;
  }

  /** All intents of a tenant, newest claim first. */
  async list(tenantId: string): Promise<AlertIntent[]> {
    const out: AlertIntent[] = [];
    try {
      const iter = this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${"intent~"} and RowKey lt ${"intent~~"}` } });
      for await (const e of iter) out.push(toIntent(tenantId, decodeURIComponent(e.rowKey.slice(7)), e));
    } catch (e) {
      throw storageError(e, `list the alert intents of tenant ${tenantId}`);
    }
    return out.sort((a, b) => b.claimedAt.localeCompare(a.claimedAt));
  }

  /** Claims the intent `key` for sending; undefined when it is sent, or being sent by someone else. */
  async claim(tenantId: string, key: string, kind: IntentKind): Promise<Claim | undefined> {
    const now = this.clock();
    const rowKey = intentRow(key);
    try {
      const r = await this.table.createEntity<Entity>({ partitionKey: tenantId, rowKey, kind, status: "pending", claimedAt: now.toISOString(), attempts: 1 });
      return { tenantId, key, etag: r.etag!, attempts: 1 };
    } catch (e) {
      if (!isConflict(e)) throw storageError(e, `record the alert intent ${key} of tenant ${tenantId}`);
    }
    const existing = await getOrUndefined<Entity>(this.table, tenantId, rowKey);
    if (!existing || existing.status === "sent") return undefined;
    if (existing.status === "pending" && now.getTime() - Date.parse(existing.claimedAt) < this.pendingTimeoutMs) return undefined;
    const attempts = (existing.attempts ?? 1) + 1;
    try {
      const r = await this.table.updateEntity({ partitionKey: tenantId, rowKey, status: "pending", claimedAt: now.toISOString(), attempts }, "Merge", { etag: existing.etag });
      return { tenantId, key, etag: r.etag!, attempts };
    } catch (e) {
      if (isPreconditionFailed(e) || isNotFound(e)) return undefined;
      throw storageError(e, `take over the alert intent ${key} of tenant ${tenantId}`);
    }
  }

  /** Records that the mail went out. Unconditional once sent: a sent mail cannot be unsent. */
  async markSent(c: Claim, info: { subject: string; recipients: string[]; transport: string; messageId: string; path?: string | undefined }): Promise<void> {
    const entity: Entity = clean({
      partitionKey: c.tenantId,
      rowKey: intentRow(c.key),
      status: "sent" as const,
      sentAt: this.clock().toISOString(),
      subject: info.subject,
      recipients: info.recipients.join(","),
      transport: info.transport,
      messageId: info.messageId,
      path: info.path,
      lastError: "",
    }) as Entity;
    try {
      await this.table.updateEntity(entity, "Merge", { etag: c.etag });
    } catch (e) {
      if (!isPreconditionFailed(e)) throw storageError(e, `mark the alert ${c.key} of tenant ${c.tenantId} sent`);
      // Someone took the intent over after our claim timed out; the mail did go out, so say so.
      await this.table.updateEntity(entity, "Merge").catch((e2: unknown) => {
        throw storageError(e2, `mark the alert ${c.key} of tenant ${c.tenantId} sent`);
      });
    }
  }

  /** Records a failed send; the intent may be claimed again at once (by the next check or run). */
  async markFailed(c: Claim, error: string): Promise<void> {
    try {
      await this.table.updateEntity({ partitionKey: c.tenantId, rowKey: intentRow(c.key), status: "failed", lastError: error.slice(0, 1000) }, "Merge", { etag: c.etag });
    } catch (e) {
      if (!isPreconditionFailed(e)) throw storageError(e, `mark the alert ${c.key} of tenant ${c.tenantId} failed`);
    }
  }

  /**
   * Deletes the intents of a scope (a tenant id, or the operators') last claimed before `before`, except those `keep`
   * names (a threshold mail of the secret still in use, which its check would otherwise send again). Returns how many
   * went.
   */
  async prune(tenantId: string, before: Date, keep: (key: string) => boolean | Promise<boolean> = () => false): Promise<number> {
    const filter = odata`PartitionKey eq ${tenantId} and RowKey ge ${"intent~"} and RowKey lt ${"intent~~"} and claimedAt lt ${before.toISOString()}`;
    return deleteWhere(this.table, filter, `prune the alert intents of ${tenantId}`, (row) => keep(decodeURIComponent(row.rowKey.slice(7))));
  }

  /** A small piece of alert state of a tenant (JSON), e.g. the open auth failures. */
  async getState<T>(tenantId: string, name: string): Promise<T | undefined> {
    const e = await getOrUndefined<{ data: string }>(this.table, tenantId, stateRow(name));
    return e ? (JSON.parse(e.data) as T) : undefined;
  }

  async setState(tenantId: string, name: string, value: unknown): Promise<void> {
    try {
      await this.table.upsertEntity({ partitionKey: tenantId, rowKey: stateRow(name), data: JSON.stringify(value) }, "Replace");
    } catch (e) {
      throw storageError(e, `save the alert state ${name} of tenant ${tenantId}`);
    }
  }

  async deleteState(tenantId: string, name: string): Promise<void> {
    try {
      await this.table.deleteEntity(tenantId, stateRow(name));
    } catch (e) {
      if (!isNotFound(e)) throw storageError(e, `delete the alert state ${name} of tenant ${tenantId}`);
    }
  }
}

function toIntent(tenantId: string, key: string, e: Entity): AlertIntent {
  return clean({
    tenantId,
    key,
    kind: e.kind,
    status: e.status,
    claimedAt: e.claimedAt,
    attempts: e.attempts,
    sentAt: e.sentAt,
    subject: e.subject,
    recipients: e.recipients,
    transport: e.transport,
    messageId: e.messageId,
    path: e.path,
    lastError: e.lastError || undefined,
  });
}
