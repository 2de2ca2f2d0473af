import type { ConnectorRow, ConnectorSpace } from "../connector/space.js";
import type { ApplyResult, PlatformDirectory, PlatformUpdate, StoredPlatformUser } from "../directory/directory.js";
import { MAPPED_ATTRIBUTES, type PlatformAttributes } from "../directory/types.js";
import { toEntraSyncError } from "../errors.js";
import type { DeltaPage, TenantGraph } from "../graph/tenant-graph.js";
import { mergeDeltaEntry, type DeltaEntry } from "../graph/users.js";
import type { Logger } from "../log.js";
import { mapUser, selectFor } from "../mapping/mapping.js";
import { addError, type RunReport } from "../runs/report.js";
import type { Checkpoint, CheckpointStore } from "../state/checkpoints.js";
import type { Tenant } from "../tenants/model.js";
import { matchUsers, type MatchResult } from "./match.js";
import { directLookup, snapshotLookup, type DirectoryLookup } from "../directory/snapshot.js";
import { settledUser } from "../immutable-id/planner.js";

/** The connector space as update sync uses it. */
export type UpdateSyncConnector = Pick<ConnectorSpace, "getMany" | "putMany" | "list" | "isEmpty" | "invalidateCandidates">;
/** The checkpoints as update sync uses them. */
export type UpdateSyncCheckpoints = Pick<CheckpointStore, "get" | "save">;

/**
 * What update sync needs, handed in by the composition root (integration tests wire the same to the local stack,
 * unit tests in-memory implementations).
 */
export interface UpdateSyncDeps {
  connector: UpdateSyncConnector;
  directory: PlatformDirectory;
  checkpoints: UpdateSyncCheckpoints;
  log: Logger;
  clock: () => Date;
}

export interface UpdateSyncOptions {
  /** The tenant's Graph. */
  graph: TenantGraph;
  /** Start a new initial round whatever the checkpoint says (mode `full`), unless this run already started one. */
  full: boolean;
  dryRun: boolean;
  /** Asked after each page: true stops cleanly (checkpoint saved) so the run can continue in another invocation. */
  shouldStop?: () => boolean;
  onPage?: (report: RunReport) => void | Promise<void>;
}

export interface UpdateSyncOutcome {
  /** False when stopped by `shouldStop` before the round ended. */
  completed: boolean;
}

const CLEAR_REMOVED = { entraRemovedAt: null, entraRemovedReason: null } as const;

/**
 * Update sync (Entra → platform) for one tenant: reads /users/delta from the checkpoint, merges each page into the
 * connector space, maps and matches the users and writes only changed attributes of existing platform users.
 * Never creates or deletes a platform user. Saves the checkpoint after every page; re-running a page is harmless.
 */
export async function runUpdateSync(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, o: UpdateSyncOptions): Promise<UpdateSyncOutcome> {
  const select = selectFor(tenant.mapping);
  const saved = await deps.checkpoints.get(tenant.tenantId, "main");
  const ownDry = o.dryRun ? await deps.checkpoints.get(tenant.tenantId, "dryRun") : undefined;
  const now = deps.clock();

  // Where to start: this run's own checkpoint (continuation), else `full` → a new initial round, else the
  // tenant's checkpoint (a nextLink left by a crashed run, or the deltaLink of the last round).
  let round: Checkpoint["round"];
  let roundStartedAt: string;
  let link: string | undefined;
  const resume = ownDry?.runId === report.runId ? ownDry : saved && (saved.runId === report.runId || !o.full) ? saved : undefined;
  if (resume) {
    link = resume.link;
    round = resume.kind === "delta" ? "incremental" : resume.round;
    roundStartedAt = resume.kind === "delta" ? now.toISOString() : resume.roundStartedAt;
  } else {
    link = undefined;
    round = "initial";
    roundStartedAt = now.toISOString();
  }
  let knownEmpty = round === "initial" && link === undefined ? await deps.connector.isEmpty(tenant.tenantId) : false;

  const fetchPage = (l: string | undefined): Promise<DeltaPage> => o.graph.deltaPage(l, select);

  // An initial round looks up every user: read the tenant's platform directory once instead of per user.
  let lookup: DirectoryLookup | undefined;
  const lookupFor = async (): Promise<DirectoryLookup> => (lookup ??= round === "initial" ? await snapshotLookup(deps.directory, tenant.tenantId) : directLookup(deps.directory));

  let candidatesInvalidated = false;
  let pending = fetchPage(link);
  for (;;) {
    let page: DeltaPage;
    try {
      page = await pending;
    } catch (e) {
      const err = toEntraSyncError(e);
      if (err.code === "GRAPH_DELTA_EXPIRED") {
        if (round === "initial" && link === undefined) throw err; // a fresh round cannot have expired: give up
        report.notices.push(`The delta token had expired (Graph keeps them 7 days): a full resync of all users was done instead of an incremental run.`);
        addError(report, "GRAPH_DELTA_EXPIRED", err.message);
        deps.log.warn("delta token expired; starting a full resync", { tenantId: tenant.tenantId, runId: report.runId });
        round = "initial";
        roundStartedAt = deps.clock().toISOString();
        link = undefined;
        knownEmpty = false;
        lookup = undefined;
        pending = fetchPage(undefined);
        continue;
      }
      throw err;
    }
    report.progress.round = round;
    // Fetch the next page while this one is processed (pages are sequential, so this hides our own work), unless the
    // invocation is about to stop: its continuation fetches that page itself.
    const next = page.nextLink && !o.shouldStop?.() ? fetchPage(page.nextLink) : undefined;
    next?.catch(() => undefined);

    // Rows a full round writes are not marked for Immutable ID sync one by one: its candidate state is marked out of
    // date once, before the first row, and the next plan is made in full.
    if (round === "initial" && !o.dryRun && !candidatesInvalidated) {
      await deps.connector.invalidateCandidates(tenant.tenantId);
      candidatesInvalidated = true;
    }
    await processPage(deps, tenant, report, page.entries, o, knownEmpty, await lookupFor(), round === "incremental");
    report.progress.pages++;

    const checkpoint: Checkpoint = page.nextLink
      ? { link: page.nextLink, kind: "next", runId: report.runId, round, roundStartedAt, savedAt: deps.clock().toISOString() }
      : { link: page.deltaLink!, kind: "delta", runId: report.runId, round, roundStartedAt, savedAt: deps.clock().toISOString() };
    // A dry run keeps its position apart: the tenant's checkpoint must not move past changes that were not applied.
    await deps.checkpoints.save(tenant.tenantId, checkpoint, o.dryRun ? "dryRun" : "main");
    await o.onPage?.(report);

    if (!page.nextLink) {
      // A round that began on an empty connector space wrote every row it holds: nothing can be unseen.
      if (round === "initial" && !knownEmpty) {
        // A dry run wrote no connector rows, so it cannot tell unseen users from seen ones.
        if (o.dryRun) report.notices.push("A dry run does not check for users that a full read no longer returns (they are found by the next real full run).");
        else await sweepUnseen(deps, tenant, report, roundStartedAt, await lookupFor());
      }
      if (round === "initial") await repairDirectoryIndex(deps, tenant, report, o.dryRun);
      return { completed: true };
    }
    link = page.nextLink;
    if (!next) return { completed: false };
    pending = next;
  }
}

async function processPage(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, entries: DeltaEntry[], o: UpdateSyncOptions, knownEmpty: boolean, lookup: DirectoryLookup, markDirty: boolean): Promise<void> {
  if (entries.length === 0) return;
  const ids = [...new Set(entries.map((e) => e.id))];
  const prior = knownEmpty ? new Map<string, ConnectorRow>() : await deps.connector.getMany(tenant.tenantId, ids);
  const seenAt = deps.clock().toISOString();

  // Merge every entry in order (the same user may appear twice on one page).
  const rows = new Map<string, ConnectorRow>();
  const removed = new Map<string, "changed" | "deleted">();
  for (const entry of entries) {
    const before = rows.get(entry.id) ?? prior.get(entry.id);
    const reason = entry["@removed"]?.reason;
    if (reason) {
      const r = reason === "deleted" ? "deleted" : "changed";
      removed.set(entry.id, r);
      rows.set(entry.id, { ...(before ?? { id: entry.id, user: { id: entry.id } }), removed: r, removedAt: before?.removedAt ?? seenAt, seenAt });
    } else {
      removed.delete(entry.id);
      rows.set(entry.id, { ...(before ?? {}), id: entry.id, user: mergeDeltaEntry(before?.user, entry), removed: undefined, removedAt: undefined, seenAt });
    }
  }

  const live = [...rows.values()].filter((r) => !r.removed);
  report.update.read += live.length;

  // A user whose UPN a switchUpn move left on the temporary domain is matched and mapped with its original UPN.
  const matches = await matchUsers(lookup, tenant, live.map(settledUser));
  // Graph serves birthday only per user: fetch it only for users that have a platform user to update.
  const birthdays = tenant.mapping.birthDate ? await o.graph.birthdays(live.filter((r) => matches.get(r.id)?.kind === "matched").map((r) => r.id)) : new Map<string, string | null>();

  const updates: PlatformUpdate[] = [];
  for (const row of live) {
    const m = matches.get(row.id)!;
    applyMatch(report, row, m);
    if (m.kind !== "matched") continue;
    const mapped = mapUser(settledUser(row), tenant.mapping, birthdays.has(row.id) ? birthdays.get(row.id) : undefined);
    const changes = diff(m.user, mapped);
    if (m.user.entraRemovedAt) Object.assign(changes, CLEAR_REMOVED);
    if (Object.keys(changes).length === 0) report.update.unchanged++;
    else updates.push({ user: m.user, changes });
  }

  // Removed users: counted and marked on the platform, never deleted.
  const removedRows = [...rows.values()].filter((r) => r.removed);
  report.update.removed += removedRows.length;
  const removedUsers = await matchUsers(lookup, { ...tenant, linking: null }, removedRows.map((r) => r.user));
  for (const row of removedRows) {
    const m = removedUsers.get(row.id);
    if (m?.kind === "matched" && (m.user.entraRemovedAt === undefined || m.user.entraRemovedReason !== row.removed))
      updates.push({ user: m.user, changes: { entraRemovedAt: row.removedAt ?? seenAt, entraRemovedReason: row.removed } });
  }

  const isRemoval = (u: PlatformUpdate) => !!u.changes.entraRemovedReason;
  if (o.dryRun) {
    report.update.updated += updates.filter((u) => !isRemoval(u)).length;
  } else {
    // The platform directory and the connector space are written at once: neither write depends on the other, and
    // re-running the page after a crash between them is harmless (updates are diffed against the directory itself).
    const [result] = await Promise.all([deps.directory.applyUpdates(tenant.tenantId, updates), deps.connector.putMany(tenant.tenantId, [...rows.values()], { dirty: markDirty })]);
    lookup.invalidate(updates.map((u) => u.user.id));
    const updatedIds = new Set(result.updated);
    for (const u of updates) if (updatedIds.has(u.user.id) && !isRemoval(u)) report.update.updated++;
    reportFailedUpdates(report, result);
  }
}

function applyMatch(report: RunReport, row: ConnectorRow, m: MatchResult): void {
  row.match = m.kind;
  row.platformUserId = m.kind === "matched" ? m.user.id : undefined;
  if (m.kind === "matched") report.update.matched++;
  else if (m.kind === "ambiguous") {
    report.update.ambiguous++;
    addError(report, "MATCH_AMBIGUOUS", `More than one platform user matches these Entra users: they were skipped. Give the right platform user the Entra object id as externalId.`, [row.id]);
  } else report.update.unmatched++;
}

/** The attributes whose mapped value differs from the platform user's (null = clear). */
export function diff(user: StoredPlatformUser, mapped: PlatformAttributes): PlatformUpdate["changes"] {
  const changes: PlatformUpdate["changes"] = {};
  for (const attr of MAPPED_ATTRIBUTES) {
    if (!(attr in mapped)) continue;
    const want = mapped[attr] ?? null;
    const have = user[attr] ?? null;
    if (want !== have) changes[attr] = want;
  }
  return changes;
}

/** Marks users an initial round did not see (gone while no delta token covered them) as removed. */
async function sweepUnseen(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, roundStartedAt: string, lookup: DirectoryLookup): Promise<void> {
  const gone: ConnectorRow[] = [];
  for await (const row of deps.connector.list(tenant.tenantId)) {
    if (!row.removed && (!row.seenAt || row.seenAt < roundStartedAt)) gone.push({ ...row, removed: "deleted", removedAt: deps.clock().toISOString() });
  }
  if (gone.length === 0) return;
  report.update.removed += gone.length;
  report.notices.push(`${gone.length} user(s) known from earlier runs were not in the full read: they are marked removed.`);
  const matches = await matchUsers(lookup, { ...tenant, linking: null }, gone.map((r) => r.user));
  const updates: PlatformUpdate[] = [];
  for (const row of gone) {
    const m = matches.get(row.id);
    if (m?.kind === "matched") updates.push({ user: m.user, changes: { entraRemovedAt: row.removedAt, entraRemovedReason: "deleted" } });
  }
  const [result] = await Promise.all([deps.directory.applyUpdates(tenant.tenantId, updates), deps.connector.putMany(tenant.tenantId, gone, { dirty: false })]);
  lookup.invalidate(updates.map((u) => u.user.id));
  reportFailedUpdates(report, result);
}

/**
 * Every full round ends by checking the platform directory's lookup index against its users (entries missing or
 * pointing at a value the user no longer has): found entries are fixed, counted and reported. Incremental runs find
 * users through the index, so drift left there would silently drop their changes.
 */
async function repairDirectoryIndex(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, dryRun: boolean): Promise<void> {
  if (!deps.directory.repairIndex) return;
  try {
    const r = await deps.directory.repairIndex(tenant.tenantId, { dryRun });
    report.update.indexRepaired = (report.update.indexRepaired ?? 0) + (dryRun ? 0 : r.entries);
    if (r.entries === 0) return;
    deps.log.warn("platform directory index disagreed with its users", { tenantId: tenant.tenantId, runId: report.runId, entries: r.entries });
    addError(
      report,
      "DIRECTORY_INDEX_DRIFT",
      dryRun
        ? `${r.entries} lookup index entr${r.entries === 1 ? "y disagrees" : "ies disagree"} with the platform users listed; a real full run fixes them.`
        : `${r.entries} lookup index entr${r.entries === 1 ? "y" : "ies"} disagreed with the platform users listed and ${r.entries === 1 ? "was" : "were"} fixed (a user stored without its entry is not found by incremental runs). If this repeats, something else writes the platform directory's table.`,
      r.users,
    );
  } catch (e) {
    const err = toEntraSyncError(e);
    addError(report, err.code, `The platform directory's lookup index could not be checked (the next full run tries again): ${err.message}`);
  }
}

/** Failed platform writes: counted and reported; delta will not bring these users again until they change. */
function reportFailedUpdates(report: RunReport, result: ApplyResult): void {
  report.update.failed += result.failed.length;
  for (const f of result.failed) addError(report, "STORAGE_CONFLICT", `A platform user could not be updated (it is retried by the next full run: \`entra-sync run --tenant ${report.tenantId} --full\`): ${f.message}`, [f.id]);
}
