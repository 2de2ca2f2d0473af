import type { AuditContext } from "../audit/entry.js";
import type { PlatformAttributes, PlatformUser } from "./types.js";

/** A platform user as read from the directory, with the version token needed to write it back. */
export type StoredPlatformUser = PlatformUser & { etag: string };

/** Attributes a platform user can be looked up by (case-insensitive except externalId). */
export type LookupAttribute = "externalId" | "userName" | "email";

/** A lookup value as compared: externalId exactly, userName and email trimmed and lower-cased. */
export const normalizeLookup = (attr: LookupAttribute, v: string): string => (attr === "externalId" ? v : v.trim().toLowerCase());

export interface PlatformUpdate {
  user: StoredPlatformUser;
  /** New values; `null` clears. Bookkeeping fields (entraRemovedAt …) may be included. */
  changes: PlatformAttributes & Pick<PlatformUser, "entraRemovedAt"> & { entraRemovedReason?: PlatformUser["entraRemovedReason"] | null; entraRemovedAt?: string | null };
}

/** What `repairIndex` found: index entries that disagreed with their users (added or removed), and whose. */
export interface IndexRepair {
  entries: number;
  /** Platform user ids concerned. */
  users: string[];
}

export interface ApplyResult {
  updated: string[];
  failed: Array<{ id: string; message: string }>;
}

/**
 * The platform directory, reached only through this interface. Update sync uses lookups and `applyUpdates`, which
 * can change existing users only: it has no way to create or delete one. `importUsers` seeds a directory (CLI).
 */
export interface PlatformDirectory {
  get(tenantId: string, id: string): Promise<StoredPlatformUser | undefined>;
  /** Users by lookup values; keys of the map are the values as given (userName/email compared lower-cased). */
  findBy(tenantId: string, attribute: LookupAttribute, values: readonly string[]): Promise<Map<string, StoredPlatformUser[]>>;
  /**
   * Writes the changes of existing users, each guarded by its ETag; a user changed meanwhile is re-read once. With
   * `audit`, every changed attribute (old → new) is recorded in the audit log in the same transaction as the change,
   * and each user that failed is recorded as failed.
   */
  applyUpdates(tenantId: string, updates: readonly PlatformUpdate[], audit?: AuditContext): Promise<ApplyResult>;
  /** Creates or replaces users by id (seeding). Indexes are maintained. */
  importUsers(tenantId: string, users: readonly PlatformUser[]): Promise<{ created: number; replaced: number }>;
  list(tenantId: string): AsyncIterable<StoredPlatformUser>;
  /**
   * Creates one user (SCIM). With `uniqueUserName` (`uniqueExternalId`) set on the user, the userName (externalId) is
   * claimed in the same transaction as the user is written: DIRECTORY_DUPLICATE naming the attribute if another user
   * holds it (or the id exists), and nothing is written.
   */
  create(tenantId: string, user: PlatformUser, audit?: AuditContext): Promise<StoredPlatformUser>;
  /**
   * Replaces one user as read: STORAGE_CONFLICT if it changed since `current` was read (its ETag), DIRECTORY_DUPLICATE
   * if the new userName is claimed by another user. Index entries and the userName claim move with it atomically.
   */
  replace(tenantId: string, current: StoredPlatformUser, after: PlatformUser, audit?: AuditContext): Promise<StoredPlatformUser>;
  /**
   * Erases one user as read (SCIM DELETE for a tenant that asks for it): the user, its lookup index entries and its
   * claims go together (one transaction in the table adapter), so nothing is left that finds or reserves it.
   * STORAGE_CONFLICT if it changed since `current` was read. Update sync never calls it. Both adapters (the table
   * one and the tests' in-memory one) have it; an adapter without it makes a tenant set to erase fail its DELETEs.
   */
  erase?(tenantId: string, current: StoredPlatformUser, audit?: AuditContext): Promise<void>;
  /**
   * Makes the adapter's lookup index agree with its users (adds missing entries, removes stale ones) and says what it
   * fixed; `dryRun` only counts. `onUser` is handed every user of the tenant, once, as `list` would yield it (before
   * any fix of its entries), so that the check's one read of the directory also serves a full round's snapshot.
   * Adapters that keep no second copy of the users leave it out.
   */
  repairIndex?(tenantId: string, o?: { dryRun?: boolean; onUser?: (u: StoredPlatformUser) => void }): Promise<IndexRepair>;
  /** Table transactions (or equivalent round trips) spent on updates so far. */
  readonly writeRoundTrips: number;
}
