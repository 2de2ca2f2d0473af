/*
 * The mass-change guard of update sync. Before a guarded run writes anything it reads its delta to the end,
 * preparing each page (connector rows merged, users matched and diffed) without writing, and counts the distinct
 * platform users it would mark removed and would change. Over a threshold the run is held: nothing written, the
 * checkpoint where it was. Under, the pages it kept (up to KEEP_ENTRIES delta entries, prepared) are handed to the
 * normal write path, so a run that passes reads Graph once and the directory once; pages beyond the bound are read
 * again from their nextLink. Thresholds per tenant and date: `guardThresholdsAt`.
 */
import { createHash } from "node:crypto";
import { auditValue } from "../audit/entry.js";
import type { ConnectorSpace } from "../connector/space.js";
import type { PlatformUpdate } from "../directory/directory.js";
import { toEntraSyncError } from "../errors.js";
import { boundText } from "../util/redact.js";
import type { DeltaPage } from "../graph/tenant-graph.js";
import type { DeltaEntry } from "../graph/users.js";
import type { GuardThresholds, HoldPreviewEntry, RunHold } from "../runs/report.js";
import { DEFAULT_GUARD, type GuardConfig } from "../tenants/guard-settings.js";

/** Days before and after a term start in which the term thresholds apply (a rollover is prepared, then trickles in). */
export const TERM_WINDOW_DAYS = { before: 14, after: 14 } as const;
/** Changes a hold's preview lists. */
export const PREVIEW_LIMIT = 50;
/** Characters of a value a preview keeps. */
export const PREVIEW_VALUE_CHARS = 200;
/** Delta entries whose prepared pages are kept while the guard counts (beyond: read again from Graph if it passes). */
export const KEEP_ENTRIES = 5_000;

const DAY_MS = 86_400_000;

/** The term start whose window `now` falls in (MM-DD), if any: from TERM_WINDOW_DAYS.before days before to .after days after, UTC days. */
export function termStartAt(termStarts: readonly string[], now: Date): string | undefined {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (const s of termStarts) {
    const [m, d] = s.split("-").map(Number) as [number, number];
    for (const y of [now.getUTCFullYear() - 1, now.getUTCFullYear(), now.getUTCFullYear() + 1]) {
      const start = Date.UTC(y, m - 1, d);
      if (today >= start - TERM_WINDOW_DAYS.before * DAY_MS && today <= start + TERM_WINDOW_DAYS.after * DAY_MS) return s;
    }
  }
  return undefined;
}

/** The thresholds a tenant's run starting at `now` is measured against; undefined when the guard is off. */
export function guardThresholdsAt(cfg: GuardConfig | undefined, now: Date): GuardThresholds | undefined {
  const g = cfg ?? DEFAULT_GUARD;
  if (!g.enabled) return undefined;
  const term = termStartAt(g.termStarts, now) !== undefined;
  return term
    ? { removals: Math.min(g.removals, g.termRemovals), changesPercent: Math.min(g.changesPercent, g.termChangesPercent), changesFloor: g.changesFloor, termStart: true }
    : { removals: g.removals, changesPercent: g.changesPercent, changesFloor: g.changesFloor, termStart: false };
}

/** Which thresholds counts pass. `users` is only needed (and only asked for) when changes pass the floor. */
export function tripped(t: Pick<GuardThresholds, "removals" | "changesPercent" | "changesFloor">, c: { removals: number; changes: number; users: number | null }): RunHold["tripped"] {
  const out: RunHold["tripped"] = [];
  if (c.removals > t.removals) out.push("removals");
  if (c.changes > t.changesFloor && c.users !== null && c.changes > (t.changesPercent / 100) * c.users) out.push("changes");
  return out;
}

/** What a run would read from, as a hold records it: `initial` (a new round) or a fingerprint of the link (never the link). */
export const checkpointFingerprint = (link: string | undefined): string => (link === undefined ? "initial" : createHash("sha256").update(link).digest("hex").slice(0, 16));

/** How a run is guarded (built by the run from the tenant's settings; absent: not guarded). */
export interface UpdateGuard {
  thresholds: GuardThresholds;
  /** An approved hold: a run reading from the same checkpoint passes unless more would change than the hold showed. */
  approved?: { runId: string; from: string; removals: number; changes: number; approvedBy?: string | undefined } | undefined;
  /** The tenant's linked platform users (asked only when the changes pass the floor). */
  linkedUsers(): Promise<number>;
  /** Attributes whose values the preview masks (as the audit log does). */
  sensitive: ReadonlySet<string>;
  /** When a hold made now expires. */
  expiresAt(): string;
  /** Entries to keep prepared (default KEEP_ENTRIES). */
  keepEntries?: number | undefined;
}

/** What the guard needs of a prepared page (update sync's PreparedPage has it). */
export interface GuardablePage {
  updates: PlatformUpdate[];
  entraIds: ReadonlySet<string>;
  platformIds: ReadonlySet<string>;
}

/** How the guard reads: update sync hands in its own page reader and its write-free page preparation. */
export interface GuardReader<P extends GuardablePage> {
  fetch(link: string | undefined): Promise<DeltaPage>;
  prepare(entries: DeltaEntry[]): Promise<P>;
  /** The delta token had expired: the round becomes a new initial round (the caller resets its state). */
  restartInitial(): void;
  /** After an initial round on a synced tenant: the platform users of connector rows the round did not see (the sweep's removals). */
  unseen?: ((seen: ReadonlySet<string>) => AsyncIterable<string>) | undefined;
}

/** The outcome: `held` (nothing may be written), or the prepared pages to write (the rest is read again). */
export type GuardVerdict<P extends GuardablePage> = { held: RunHold; kept?: undefined; notice?: string | undefined } | { held?: undefined; kept: KeptPages<P>; notice?: string | undefined };

/**
 * Pages read and prepared while the guard counted, served once each to the write path by link. A prepared page is
 * used only when no page before it touched the same Entra or platform users (it was prepared before anything was
 * written); else the write path prepares it again.
 */
export class KeptPages<P extends GuardablePage> {
  private readonly pages = new Map<string, Promise<DeltaPage>>();
  private readonly prepared = new WeakMap<DeltaPage, P>();
  private readonly earlierEntra = new Set<string>();
  private readonly earlierPlatform = new Set<string>();

  put(link: string | undefined, page: DeltaPage, prepared: P): void {
    this.pages.set(link ?? "", Promise.resolve(page));
    this.prepared.set(page, prepared);
  }

  /** A link whose read failed (an expired token): the write path meets the same error without asking Graph again. */
  fail(link: string | undefined, e: unknown): void {
    const p = Promise.reject(e);
    p.catch(() => undefined);
    this.pages.set(link ?? "", p);
  }

  /** The kept page of `link` (once), or undefined: read it from Graph. */
  take(link: string | undefined): Promise<DeltaPage> | undefined {
    const p = this.pages.get(link ?? "");
    this.pages.delete(link ?? "");
    return p;
  }

  /**
   * The page's preparation, if it was kept and still holds; records the page's users as written before the next one.
   * Kept pages are the first of the round, so a page without one comes after all of them.
   */
  preparedFor(page: DeltaPage): P | undefined {
    const p = this.prepared.get(page);
    if (!p) return undefined;
    this.prepared.delete(page);
    const clash = [...p.entraIds].some((id) => this.earlierEntra.has(id)) || [...p.platformIds].some((id) => this.earlierPlatform.has(id));
    for (const id of p.entraIds) this.earlierEntra.add(id);
    for (const id of p.platformIds) this.earlierPlatform.add(id);
    return clash ? undefined : p;
  }

  get size(): number {
    return this.pages.size;
  }
}

/** The counts of one guarded read. */
class Tally {
  readonly removed = new Set<string>();
  readonly changed = new Set<string>();
  readonly preview: HoldPreviewEntry[] = [];
  readonly seen = new Set<string>();

  add(p: GuardablePage, sensitive: ReadonlySet<string>, trackSeen: boolean): void {
    if (trackSeen) for (const id of p.entraIds) this.seen.add(id);
    for (const u of p.updates) {
      const remove = !!u.changes.entraRemovedReason;
      if (remove) this.removed.add(u.user.id);
      if (this.changed.has(u.user.id)) continue;
      this.changed.add(u.user.id);
      if (this.preview.length < PREVIEW_LIMIT) this.preview.push(previewOf(u, remove, sensitive));
    }
  }
}

function previewOf(u: PlatformUpdate, remove: boolean, sensitive: ReadonlySet<string>): HoldPreviewEntry {
  // Values as the audit log keeps them (sensitive ones masked), cut shorter: 50 users' values must fit the report.
  const value = (attribute: string, v: unknown) => {
    const a = auditValue(attribute, v, sensitive);
    return a === null ? null : boundText(a, PREVIEW_VALUE_CHARS);
  };
  const changes = Object.entries(u.changes).map(([attribute, v]) => ({ attribute, old: value(attribute, (u.user as unknown as Record<string, unknown>)[attribute]), new: value(attribute, v) }));
  return { platformUserId: u.user.id, entraId: String(u.changes.externalId ?? u.user.externalId ?? ""), kind: remove ? "remove" : "update", attributes: changes.map((c) => c.attribute), changes };
}

/**
 * Reads the delta from `start` to its end without writing, counting what would change; decides hold or pass. An
 * expired token restarts the count on a new initial round (as the write path will). `initial`: the round is an
 * initial round on a tenant synced before (its unseen users are counted as removals when the reader can).
 */
export async function evaluateGuard<P extends GuardablePage>(g: UpdateGuard, start: string | undefined, initial: boolean, r: GuardReader<P>): Promise<GuardVerdict<P>> {
  const bound = g.keepEntries ?? KEEP_ENTRIES;
  const from = checkpointFingerprint(start);
  let kept = new KeptPages<P>();
  let keptEntries = 0;
  let keeping = true;
  let tally = new Tally();
  let link = start;
  let pending = r.fetch(link);
  for (;;) {
    let page: DeltaPage;
    try {
      page = await pending;
    } catch (e) {
      if (toEntraSyncError(e).code !== "GRAPH_DELTA_EXPIRED" || link === undefined) throw e;
      // The write path meets the same expired link (kept as a failure, not asked again) and restarts; so does the count.
      kept = new KeptPages<P>();
      kept.fail(link, e);
      keptEntries = 0;
      keeping = true;
      tally = new Tally();
      initial = true;
      r.restartInitial();
      link = undefined;
      pending = r.fetch(undefined);
      continue;
    }
    const next = page.nextLink ? r.fetch(page.nextLink) : undefined;
    next?.catch(() => undefined);
    const prepared = await r.prepare(page.entries);
    tally.add(prepared, g.sensitive, initial && !!r.unseen);
    if (keeping && keptEntries + page.entries.length <= bound) {
      kept.put(link, page, prepared);
      keptEntries += page.entries.length;
    } else keeping = false;
    if (!page.nextLink || !next) break;
    link = page.nextLink;
    pending = next;
  }
  let unseenCounted = false;
  if (initial && r.unseen) {
    for await (const platformUserId of r.unseen(tally.seen)) {
      tally.removed.add(platformUserId);
      tally.changed.add(platformUserId);
    }
    unseenCounted = true;
  }
  const removals = tally.removed.size;
  const changes = tally.changed.size;
  const t = g.approved && g.approved.from === from ? { removals: g.approved.removals, changesPercent: 0, changesFloor: g.approved.changes } : g.thresholds;
  const users = changes > t.changesFloor ? await g.linkedUsers() : null;
  const trips = tripped(t, { removals, changes, users });
  let notice: string | undefined;
  if (g.approved) {
    notice =
      g.approved.from === from
        ? `Applies run ${g.approved.runId}, held by the mass-change guard and approved${g.approved.approvedBy ? ` by ${g.approved.approvedBy}` : ""}: ${removals} removal(s), ${changes} change(s).`
        : `Run ${g.approved.runId} was approved, but the tenant's checkpoint moved since it was held: the mass-change guard decided afresh.`;
  }
  if (trips.length === 0) return { kept, notice };
  const hold: RunHold = { removals, changes, users, thresholds: g.thresholds, tripped: trips, preview: tally.preview, from, expiresAt: g.expiresAt(), state: "pending" };
  if (!unseenCounted && initial) notice = [notice, "Users a full read no longer returns are not counted by the mass-change guard here."].filter(Boolean).join(" ");
  if (g.approved && g.approved.from === from) notice = `More would change than when run ${g.approved.runId} was held and approved (${g.approved.removals} removal(s), ${g.approved.changes} change(s) then): held again for review.`;
  return { held: hold, notice };
}

/**
 * The platform users an initial round's sweep would mark removed: connector rows not removed, matched at their last
 * sync, neither seen by this round's read (`seen`) nor by earlier pages of it (`seenAt` since the round started).
 */
export async function* unseenLinkedUsers(connector: Pick<ConnectorSpace, "list">, tenantId: string, roundStartedAt: string, seen: ReadonlySet<string>): AsyncIterable<string> {
  for await (const row of connector.list(tenantId)) {
    if (!row.removed && row.platformUserId && (!row.seenAt || row.seenAt < roundStartedAt) && !seen.has(row.id)) yield row.platformUserId;
  }
}
