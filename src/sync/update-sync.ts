import type { ConnectorRow, ConnectorSpace } from "../connector/space.js";
import type { ApplyResult, LookupAttribute, PlatformDirectory, PlatformUpdate, StoredPlatformUser } from "../directory/directory.js";
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
import type { RunHold } from "../runs/report.js";
import { evaluateGuard, unseenLinkedUsers, type KeptPages, type UpdateGuard } from "./guard.js";
import { ReadAhead, startDepth } from "./read-ahead.js";
import { yieldToIo } from "../util/concurrency.js";

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
  /** The mass-change guard (./guard.ts): count first, then hold or write. Absent: not guarded. */
  guard?: UpdateGuard | undefined;
}

export interface UpdateSyncOutcome {
  /** False when stopped by `shouldStop` before the round ended. */
  completed: boolean;
  /** Set when the mass-change guard held the run: nothing was written, the checkpoint did not move. */
  held?: RunHold | undefined;
}

/** Pages read ahead of the one being processed (~200 users each), and while the round's start is read. */
export const READ_AHEAD_PAGES = 4;
export const READ_AHEAD_PAGES_AT_START = 64;

const CLEAR_REMOVED = { entraRemovedAt: null, entraRemovedReason: null } as const;

/**
 * The checkpoint a run of update sync resumes from: this run's own (a continuation; a dry run's own slot first),
 * else none when `full` asks for a new initial round, else the tenant's (a crashed run's nextLink or the last
 * round's deltaLink). Undefined: a new initial round.
 */
export async function resumePoint(checkpoints: Pick<CheckpointStore, "get">, tenantId: string, runId: string, o: { dryRun: boolean; full: boolean }): Promise<Checkpoint | undefined> {
  const saved = await checkpoints.get(tenantId, "main");
  const ownDry = o.dryRun ? await checkpoints.get(tenantId, "dryRun") : undefined;
  return ownDry?.runId === runId ? ownDry : saved && (saved.runId === runId || !o.full) ? saved : undefined;
}

/**
 * Update sync (Entra → platform) for one tenant: reads /users/delta from the checkpoint, merges each page into the
 * connector space, maps and matches the users and writes only changed attributes of existing platform users.
 * Never creates or deletes a platform user. Saves the checkpoint after every page; re-running a page is harmless.
 */
export async function runUpdateSync(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, o: UpdateSyncOptions): Promise<UpdateSyncOutcome> {
  const select = selectFor(tenant.mapping);
  const resume = await resumePoint(deps.checkpoints, tenant.tenantId, report.runId, o);
  const now = deps.clock();

  // Where to start: this run's own checkpoint (continuation), else `full` → a new initial round, else the
  // tenant's checkpoint (a nextLink left by a crashed run, or the deltaLink of the last round).
  let round: Checkpoint["round"];
  let roundStartedAt: string;
  let link: string | undefined;
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

  let kept: KeptPages<PreparedPage> | undefined;
  const fetchPage = (l: string | undefined): Promise<DeltaPage> => kept?.take(l) ?? o.graph.deltaPage(l, select);

  // An initial round looks up every user: a compact key index of the tenant's platform directory, read once, turns
  // values into candidate ids (the users themselves are read per page).
  let lookup: DirectoryLookup | undefined;
  const indexed: LookupAttribute[] = tenant.linking ? ["externalId", tenant.linking.platform] : ["externalId"];
  // The round's check of the directory's lookup index reads every user too: when it may write (not while the guard
  // counts), its one read of the directory builds the snapshot, so a full round reads the directory once, not twice.
  const initialLookup = async (mayWrite: boolean): Promise<DirectoryLookup> => {
    if (mayWrite && !report.update.indexChecked && deps.directory.repairIndex) {
      let fixed: string[] = [];
      try {
        const snapshot = await snapshotLookup(deps.directory, tenant.tenantId, indexed, async (add) => void (fixed = await checkDirectoryIndex(deps, tenant, report, o.dryRun, add)));
        snapshot.invalidate(fixed); // rewritten by the check: new ETags, read again when looked up
        return snapshot;
      } catch {
        // The check could not read the directory: the snapshot is read alone and the check runs at the round's end.
      }
    }
    return snapshotLookup(deps.directory, tenant.tenantId, indexed);
  };
  const lookupFor = async (mayWrite = true): Promise<DirectoryLookup> => (lookup ??= round === "initial" ? await initialLookup(mayWrite) : directLookup(deps.directory));

  // Pages are pipelined: page n is written (directory, connector space, then its checkpoint) while page n+1 is read
  // and matched. At most one page is being written, pages are written in order and each checkpoint is saved after its
  // page's writes, so a crash still resumes at the first page not fully written.
  // The mass-change guard reads and counts first, writing nothing (a first sync, on an empty connector space, is not
  // guarded); pages it kept are written below without being read again.
  if (o.guard && !o.dryRun && !knownEmpty && resume?.runId !== report.runId) {
    const v = await evaluateGuard(o.guard, link, round === "initial", {
      fetch: fetchPage,
      prepare: async (entries) => preparePage(deps, tenant, entries, o, false, await lookupFor(false), undefined),
      restartInitial: () => void ((round = "initial"), (roundStartedAt = deps.clock().toISOString())),
      unseen: (seen) => unseenLinkedUsers(deps.connector, tenant.tenantId, roundStartedAt, seen),
    });
    if (v.notice) report.notices.push(v.notice);
    if (v.held) return { completed: true, held: v.held };
    kept = v.kept;
  }

  let inflight: InFlight | undefined;
  const settle = async (): Promise<void> => {
    const f = inflight;
    inflight = undefined;
    await f?.done;
  };
  let candidatesInvalidated = false;
  // Pages are read ahead of their processing (one request at a time, in order): deeper while the round's start (the
  // directory snapshot) is being read, and until the pages read then are worked off.
  const depth = startDepth(READ_AHEAD_PAGES_AT_START, READ_AHEAD_PAGES, () => lookup !== undefined, () => reader.ahead);
  const reader: ReadAhead = new ReadAhead(fetchPage, depth.depth, () => o.shouldStop?.() ?? false);
  reader.restart(link);
  let pending = reader.take()!;
  try {
    for (;;) {
      let page: DeltaPage;
      try {
        page = await pending;
      } catch (e) {
        const err = toEntraSyncError(e);
        if (err.code === "GRAPH_DELTA_EXPIRED") {
          if (round === "initial" && link === undefined) throw err; // a fresh round cannot have expired: give up
          await settle();
          report.notices.push(`The delta token had expired (Graph keeps them 7 days): a full resync of all users was done instead of an incremental run.`);
          addError(report, "GRAPH_DELTA_EXPIRED", err.message);
          deps.log.warn("delta token expired; starting a full resync", { tenantId: tenant.tenantId, runId: report.runId });
          round = "initial";
          if (!kept) roundStartedAt = deps.clock().toISOString(); // else the guard started the round (its rows are seen since)
          link = undefined;
          knownEmpty = false;
          lookup?.close();
          lookup = undefined;
          depth.reset();
          reader.restart(undefined);
          pending = reader.take()!;
          continue;
        }
        throw err;
      }
      report.progress.round = round;
      // The next page is read while this one is processed (pages are sequential, so this hides our own work), unless the
      // invocation is about to stop: its continuation reads that page itself.
      const stopping = !!page.nextLink && (o.shouldStop?.() ?? false);
      if (stopping) reader.stop();
      const next = page.nextLink && !stopping ? reader.take() : undefined;

      // Rows a full round writes are not marked for Immutable ID sync one by one: its candidate state is marked out of
      // date once, before the first row, and the next plan is made in full.
      if (round === "initial" && !o.dryRun && !candidatesInvalidated) {
        await settle();
        await deps.connector.invalidateCandidates(tenant.tenantId);
        candidatesInvalidated = true;
      }
      const markDirty = round === "incremental";
      const prepared = kept?.preparedFor(page) ?? (await preparePage(deps, tenant, page.entries, o, knownEmpty, await lookupFor(), inflight));
      await settle(); // the previous page is written and its checkpoint saved before this one is written
      const checkpoint = (): Checkpoint =>
        page.nextLink
          ? { link: page.nextLink, kind: "next", runId: report.runId, round, roundStartedAt, savedAt: deps.clock().toISOString() }
          : { link: page.deltaLink!, kind: "delta", runId: report.runId, round, roundStartedAt, savedAt: deps.clock().toISOString() };
      const lookupNow = await lookupFor();
      const done = (async () => {
        await commitPage(deps, report, prepared, o, lookupNow, markDirty);
        report.progress.pages++;
        // A dry run keeps its position apart: the tenant's checkpoint must not move past changes that were not applied.
        await deps.checkpoints.save(tenant.tenantId, checkpoint(), o.dryRun ? "dryRun" : "main");
        await o.onPage?.(report);
      })();
      done.catch(() => undefined); // awaited by settle(); not an unhandled rejection meanwhile
      inflight = { done, entraIds: prepared.entraIds, platformIds: prepared.platformIds };

      if (!page.nextLink) {
        await settle();
        // A round that began on an empty connector space wrote every row it holds: nothing can be unseen.
        if (round === "initial" && !knownEmpty) {
          // A dry run wrote no connector rows, so it cannot tell unseen users from seen ones.
          if (o.dryRun) report.notices.push("A dry run does not check for users that a full read no longer returns (they are found by the next real full run).");
          else await sweepUnseen(deps, tenant, report, roundStartedAt, await lookupFor());
        }
        if (round === "initial" && !report.update.indexChecked) await repairDirectoryIndex(deps, tenant, report, o.dryRun);
        return { completed: true };
      }
      link = page.nextLink;
      if (!next) {
        await settle();
        return { completed: false };
      }
      pending = next;
    }
  } finally {
    // Never leave a page being written behind an error: the run ends after its last write, not before.
    await inflight?.done.catch(() => undefined);
    lookup?.close();
  }
}

/** A page being written: its promise, and the users it touches (the next page waits for it if it touches them too). */
interface InFlight {
  done: Promise<void>;
  entraIds: ReadonlySet<string>;
  platformIds: ReadonlySet<string>;
}

/** One page, read and matched, waiting to be written: bounded by the page size. */
interface PreparedPage {
  rows: ConnectorRow[];
  updates: PlatformUpdate[];
  entraIds: Set<string>;
  platformIds: Set<string>;
  /** Counts and findings, added to the report when the page is written (so a saved report matches its checkpoint). */
  tally: { read: number; matched: number; unchanged: number; unmatched: number; removed: number; ambiguous: string[] };
}

async function preparePage(deps: UpdateSyncDeps, tenant: Tenant, entries: DeltaEntry[], o: UpdateSyncOptions, knownEmpty: boolean, lookup: DirectoryLookup, inflight: InFlight | undefined): Promise<PreparedPage> {
  const tally: PreparedPage["tally"] = { read: 0, matched: 0, unchanged: 0, unmatched: 0, removed: 0, ambiguous: [] };
  const ids = [...new Set(entries.map((e) => e.id))];
  const out: PreparedPage = { rows: [], updates: [], entraIds: new Set(ids), platformIds: new Set(), tally };
  if (entries.length === 0) return out;
  // The same Entra user on the page being written: wait for it, so its connector row is read as written.
  if (inflight && ids.some((id) => inflight.entraIds.has(id))) await inflight.done;
  const prior = knownEmpty ? new Map<string, ConnectorRow>() : await deps.connector.getMany(tenant.tenantId, ids);
  const seenAt = deps.clock().toISOString();

  // Merge every entry in order (the same user may appear twice on one page).
  const rows = new Map<string, ConnectorRow>();
  for (const entry of entries) {
    const before = rows.get(entry.id) ?? prior.get(entry.id);
    const reason = entry["@removed"]?.reason;
    if (reason) {
      const r = reason === "deleted" ? "deleted" : "changed";
      rows.set(entry.id, { ...(before ?? { id: entry.id, user: { id: entry.id } }), removed: r, removedAt: before?.removedAt ?? seenAt, seenAt });
    } else {
      rows.set(entry.id, { ...(before ?? {}), id: entry.id, user: mergeDeltaEntry(before?.user, entry), removed: undefined, removedAt: undefined, seenAt });
    }
  }
  out.rows = [...rows.values()];
  const live = out.rows.filter((r) => !r.removed);
  const removedRows = out.rows.filter((r) => r.removed);
  tally.read = live.length;
  tally.removed = removedRows.length;

  // A user whose UPN a switchUpn move left on the temporary domain is matched and mapped with its original UPN.
  const match = async () => ({
    live: await matchUsers(lookup, tenant, live.map(settledUser)),
    removed: await matchUsers(lookup, { ...tenant, linking: null }, removedRows.map((r) => r.user)),
  });
  let m = await match();
  const touched = (x: typeof m) => [...x.live.values(), ...x.removed.values()].some((r) => r.kind === "matched" && inflight?.platformIds.has(r.user.id));
  // A platform user the page being written updates: read it again once that write is done (new ETag, new values).
  if (inflight && touched(m)) {
    await inflight.done;
    m = await match();
  }
  // Graph serves birthday only per user: fetch it only for users that have a platform user to update.
  const birthdays = tenant.mapping.birthDate ? await o.graph.birthdays(live.filter((r) => m.live.get(r.id)?.kind === "matched").map((r) => r.id)) : new Map<string, string | null>();

  await yieldToIo(); // matched: let answers that came in meanwhile (the next pages) be read before mapping
  for (const row of live) {
    const r = m.live.get(row.id)!;
    applyMatch(tally, row, r);
    if (r.kind !== "matched") continue;
    const mapped = mapUser(settledUser(row), tenant.mapping, birthdays.has(row.id) ? birthdays.get(row.id) : undefined);
    const changes = diff(r.user, mapped);
    if (r.user.entraRemovedAt) Object.assign(changes, CLEAR_REMOVED);
    if (Object.keys(changes).length === 0) tally.unchanged++;
    else out.updates.push({ user: r.user, changes });
  }
  // Removed users: counted and marked on the platform, never deleted.
  for (const row of removedRows) {
    const r = m.removed.get(row.id);
    if (r?.kind === "matched" && (r.user.entraRemovedAt === undefined || r.user.entraRemovedReason !== row.removed))
      out.updates.push({ user: r.user, changes: { entraRemovedAt: row.removedAt ?? seenAt, entraRemovedReason: row.removed } });
  }
  for (const u of out.updates) out.platformIds.add(u.user.id);
  return out;
}

async function commitPage(deps: UpdateSyncDeps, report: RunReport, p: PreparedPage, o: UpdateSyncOptions, lookup: DirectoryLookup, markDirty: boolean): Promise<void> {
  const t = p.tally;
  report.update.read += t.read;
  report.update.matched += t.matched;
  report.update.unchanged += t.unchanged;
  report.update.unmatched += t.unmatched;
  report.update.removed += t.removed;
  report.update.ambiguous += t.ambiguous.length;
  if (t.ambiguous.length) addError(report, "MATCH_AMBIGUOUS", `More than one platform user matches these Entra users: they were skipped. Give the right platform user the Entra object id as externalId.`, t.ambiguous);
  if (p.rows.length === 0) return;
  const isRemoval = (u: PlatformUpdate) => !!u.changes.entraRemovedReason;
  if (o.dryRun) {
    report.update.updated += p.updates.filter((u) => !isRemoval(u)).length;
    return;
  }
  await yieldToIo(); // the next page's matching (and answers come in meanwhile) before this page's write is built
  // The platform directory and the connector space are written at once: neither write depends on the other, and
  // re-running the page after a crash between them is harmless (updates are diffed against the directory itself).
  const [result] = await Promise.all([deps.directory.applyUpdates(report.tenantId, p.updates, { source: "updateSync", runId: report.runId }), deps.connector.putMany(report.tenantId, p.rows, { dirty: markDirty })]);
  lookup.invalidate(p.updates.map((u) => u.user.id));
  const updatedIds = new Set(result.updated);
  for (const u of p.updates) if (updatedIds.has(u.user.id) && !isRemoval(u)) report.update.updated++;
  reportFailedUpdates(report, result);
}

function applyMatch(tally: PreparedPage["tally"], row: ConnectorRow, m: MatchResult): void {
  row.match = m.kind;
  row.platformUserId = m.kind === "matched" ? m.user.id : undefined;
  if (m.kind === "matched") tally.matched++;
  else if (m.kind === "ambiguous") tally.ambiguous.push(row.id);
  else tally.unmatched++;
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

/** How many unseen users the sweep marks at once (it never holds more than this many rows). */
const SWEEP_CHUNK = 200;

/** Marks users an initial round did not see (gone while no delta token covered them) as removed, a chunk at a time. */
async function sweepUnseen(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, roundStartedAt: string, lookup: DirectoryLookup): Promise<void> {
  let total = 0;
  let gone: ConnectorRow[] = [];
  const flush = async () => {
    if (gone.length === 0) return;
    const chunk = gone;
    gone = [];
    total += chunk.length;
    const matches = await matchUsers(lookup, { ...tenant, linking: null }, chunk.map((r) => r.user));
    const updates: PlatformUpdate[] = [];
    for (const row of chunk) {
      const m = matches.get(row.id);
      if (m?.kind === "matched") updates.push({ user: m.user, changes: { entraRemovedAt: row.removedAt, entraRemovedReason: "deleted" } });
    }
    const [result] = await Promise.all([deps.directory.applyUpdates(tenant.tenantId, updates, { source: "updateSync", runId: report.runId }), deps.connector.putMany(tenant.tenantId, chunk, { dirty: false })]);
    lookup.invalidate(updates.map((u) => u.user.id));
    reportFailedUpdates(report, result);
  };
  for await (const row of deps.connector.list(tenant.tenantId)) {
    if (!row.removed && (!row.seenAt || row.seenAt < roundStartedAt)) gone.push({ ...row, removed: "deleted", removedAt: deps.clock().toISOString() });
    if (gone.length >= SWEEP_CHUNK) await flush();
  }
  await flush();
  if (total === 0) return;
  report.update.removed += total;
  report.notices.push(`${total} user(s) known from earlier runs were not in the full read: they are marked removed.`);
}

/**
 * Every full round checks the platform directory's lookup index against its users (entries missing or pointing at a
 * value the user no longer has): found entries are fixed, counted and reported. Incremental runs find users through
 * the index, so drift left there would silently drop their changes. The check runs once per run: as the round's
 * snapshot is read (`checkDirectoryIndex`, same read), else at the round's end.
 */
async function repairDirectoryIndex(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, dryRun: boolean): Promise<void> {
  try {
    await checkDirectoryIndex(deps, tenant, report, dryRun);
  } catch (e) {
    const err = toEntraSyncError(e);
    addError(report, err.code, `The platform directory's lookup index could not be checked (the next full run tries again): ${err.message}`);
  }
}

/** The check itself: reports what it found and returns the users it rewrote; a failed read of the directory throws. */
async function checkDirectoryIndex(deps: UpdateSyncDeps, tenant: Tenant, report: RunReport, dryRun: boolean, onUser?: (u: StoredPlatformUser) => void): Promise<string[]> {
  if (!deps.directory.repairIndex) return [];
  const r = await deps.directory.repairIndex(tenant.tenantId, { dryRun, onUser });
  report.update.indexChecked = true;
  report.update.indexRepaired = (report.update.indexRepaired ?? 0) + (dryRun ? 0 : r.entries);
  if (r.entries > 0) {
    deps.log.warn("platform directory index disagreed with its users", { tenantId: tenant.tenantId, runId: report.runId, entries: r.entries });
    addError(
      report,
      "DIRECTORY_INDEX_DRIFT",
      dryRun
        ? `${r.entries} lookup index entr${r.entries === 1 ? "y disagrees" : "ies disagree"} with the platform users listed; a real full run fixes them.`
        : `${r.entries} lookup index entr${r.entries === 1 ? "y" : "ies"} disagreed with the platform users listed and ${r.entries === 1 ? "was" : "were"} fixed (a user stored without its entry is not found by incremental runs). If this repeats, something else writes the platform directory's table.`,
      r.users,
    );
  }
  return dryRun ? [] : r.users;
}

/** Failed platform writes: counted and reported; delta will not bring these users again until they change. */
function reportFailedUpdates(report: RunReport, result: ApplyResult): void {
  report.update.failed += result.failed.length;
  for (const f of result.failed) addError(report, "STORAGE_CONFLICT", `A platform user could not be updated (it is retried by the next full run: \`entra-sync run --tenant ${report.tenantId} --full\`): ${f.message}`, [f.id]);
}
