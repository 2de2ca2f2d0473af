/**
 * Immutable ID sync's candidate state, kept current between runs instead of re-planned from the whole tenant.
 *
 * Every connector-space row carries what the last plan concluded about its user (`iid`), and every write of a row
 * by update sync (or by the step's own writes) marks it dirty. Each shard of the connector space holds a summary
 * (counts per category, the plan's hash) that equals the sum over its rows, written in the same transactions as the
 * rows. An incremental plan therefore reads the dirty rows, their platform users, and — only for ImmutableId values
 * that some dirty row gained or lost — the index entries of those values (`!v|value|…`), so "another user has this
 * value" is a range query, not a scan. See README "Immutable ID sync" (Incremental planning).
 */
import { createHash } from "node:crypto";
import { concludedValueKeys, DIRTY_PREFIX, hashHex, keysOfRow, parseValueKey, PENDING_PREFIX, PLANNED_PREFIX, valueKey, wantsValue, type CandidateState, type ShardSummary } from "../connector/derived.js";
import { applyContribution, contributionOf, emptySummary, shardOf, type ConnectorRow, type ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory } from "../directory/directory.js";
import type { Tenant } from "../tenants/model.js";
import type { PlanEntry } from "./plan.js";
import { mapLimit } from "../util/concurrency.js";
import { byPlanOrder, evaluateRow, needsPlatform, plannedFromRow, summarize, type PlannedUser, type PlanSummary, type SkipReason, type TenantDomains } from "./planner.js";

/** The connector space as the candidate state uses it. */
export type CandidateConnector = Pick<ConnectorSpace, "get" | "getMany" | "indexKeys" | "readSummaries" | "writeSummaries" | "saveCandidates">;

export interface CandidateDeps {
  connector: CandidateConnector;
  directory: Pick<PlatformDirectory, "get">;
  clock: () => Date;
}

/** A digest of what a user's candidate state depends on besides its row and platform user: settings and domains. */
export function settingsHash(tenant: Tenant, domains: TenantDomains): string {
  const c = tenant.immutableId;
  const basis = JSON.stringify({ v: 1, source: c.source, encoding: c.encoding, federatedDomains: c.federatedDomains, federated: [...domains.federated].sort(), initial: domains.initial ?? null });
  return createHash("sha256").update(basis).digest("hex").slice(0, 32);
}

/** The reason a run cannot plan incrementally (and re-plans in full), or undefined when it can. */
export function whyFullReplan(summaries: Map<number, ShardSummary>, hash: string): "noState" | "settingsChanged" | undefined {
  const values = [...summaries.values()];
  if (values.some((s) => !s.settingsHash || !s.builtAt)) return "noState";
  if (values.some((s) => s.settingsHash !== hash)) return "settingsChanged";
  return undefined;
}

const sumHash = (summaries: Map<number, ShardSummary>): string => hashHex([...summaries.values()].reduce((a, s) => a + BigInt(`0x${s.hashSum}`), 0n));
const sumCounts = (summaries: Map<number, ShardSummary>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of summaries.values()) for (const [k, n] of Object.entries(s.counts)) out[k] = (out[k] ?? 0) + n;
  return out;
};

/**
 * Stores the states of a full re-plan as it concludes them, a page at a time (rows whose state changed, and dirty
 * ones), and at the end replaces the shards' summaries with the sums, marked with the settings they were computed
 * with. The state is marked out of date first, so a run killed in between re-plans in full again.
 */
export async function fullPlanStore(deps: CandidateDeps, tenantId: string, hash: string): Promise<{ store: (states: ConnectorRow[]) => Promise<void>; finish: () => Promise<void> }> {
  const summaries = await deps.connector.readSummaries(tenantId);
  for (const s of summaries.values()) s.settingsHash = "";
  await deps.connector.writeSummaries(tenantId, summaries);
  const fresh = new Map<number, ShardSummary>();
  for (let s = 0; s < summaries.size; s++) fresh.set(s, emptySummary());
  return {
    async store(states) {
      const stale: ConnectorRow[] = [];
      for (const r of states) {
        applyContribution(fresh.get(shardOf(r.id))!, contributionOf(r.id, r.iid), 1);
        const keys = keysOfRow({ ...r, iidDirty: undefined });
        const same = JSON.stringify(r.stored?.iid ?? null) === JSON.stringify(r.iid ?? null) && sameKeys(r.stored?.keys ?? [], keys);
        if (!same || r.iidDirty) stale.push(r);
      }
      if (stale.length) await deps.connector.saveCandidates(tenantId, stale, summaries);
    },
    async finish() {
      const builtAt = deps.clock().toISOString();
      for (const s of fresh.values()) {
        s.settingsHash = hash;
        s.builtAt = builtAt;
      }
      await deps.connector.writeSummaries(tenantId, fresh);
    },
  };
}

const sameKeys = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

/** The outcome of an incremental plan: the counts and hash, the users looked at, and how to load the entries. */
export interface IncrementalPlan extends PlanSummary {
  /** Users whose state was looked at again (dirty rows, and users sharing a value one of them gained or lost). */
  evaluated: number;
  /** What the plan gained (new or changed entries) and lost (users), and its hash before. */
  changes: { set: PlanEntry[]; removed: string[]; hashBefore: string };
  /** When the state was last rebuilt in full. */
  builtAt: string;
  examples: Partial<Record<SkipReason, string[]>>;
  pendingUpnRestores: ConnectorRow[];
  /** The planned users, read when needed (writing, or storing a plan that changed): O(planned). */
  loadEntries: () => Promise<PlannedUser[]>;
}

/**
 * Brings the stored candidate state up to date with the rows that changed since the last plan, and returns the plan's
 * counts. Reads O(changed users) rows; `summaries` must be the shards' summaries as read (they are updated).
 */
export async function planIncrementally(deps: CandidateDeps, tenant: Tenant, domains: TenantDomains, summaries: Map<number, ShardSummary>): Promise<IncrementalPlan> {
  const tenantId = tenant.tenantId;
  const cfg = tenant.immutableId;
  const examples: Partial<Record<SkipReason, string[]>> = {};
  const dirtyIds = (await deps.connector.indexKeys(tenantId, DIRTY_PREFIX)).map((k) => k.slice(DIRTY_PREFIX.length));
  const dirty = [...(await deps.connector.getMany(tenantId, dirtyIds)).values()];
  const toRead = dirty.filter(needsPlatform);
  const platform = await mapLimit(toRead, 32, (r) => deps.directory.get(tenantId, r.platformUserId!));
  const platformOf = new Map(toRead.map((r, i) => [r.id, platform[i]]));

  // New states before values are compared; the value entries each dirty row will own.
  const next = new Map<string, ConnectorRow>();
  for (const row of dirty) next.set(row.id, { ...row, iid: evaluateRow(row, platformOf.get(row.id), cfg, domains) });
  const valueEntries = (r: ConnectorRow) => keysOfRow({ ...r, iidDirty: undefined }).map(parseValueKey).filter((v) => v !== undefined);
  // Values a dirty row gained or lost (held, held by a move, or wanted): the users sharing them are compared again.
  const affected = new Set<string>();
  for (const row of dirty) {
    const before = new Set(concludedValueKeys(row.id, row.stored?.iid));
    const after = new Set(concludedValueKeys(row.id, next.get(row.id)!.iid));
    for (const k of before) if (!after.has(k)) affected.add(parseValueKey(k)!.value);
    for (const k of after) if (!before.has(k)) affected.add(parseValueKey(k)!.value);
    // A wanted value that stays: the user keeps its verdict (planned or duplicateValue) unless someone else changed.
    const was = row.stored?.iid;
    const now = next.get(row.id)!.iid!;
    if (now.cat === "planned" && was && wantsValue(was.cat) && was.value?.toLowerCase() === now.value?.toLowerCase()) now.cat = was.cat;
  }

  // Who holds or wants each affected value, as stored, with the dirty rows' new entries instead of their old ones.
  const holders = new Map<string, Array<{ kind: string; id: string }>>();
  const lists = await mapLimit([...affected], 8, (v) => deps.connector.indexKeys(tenantId, `!v|${v}|`));
  [...affected].forEach((v, i) => holders.set(v, (lists[i] ?? []).map(parseValueKey).filter((x) => x !== undefined).filter((x) => !next.has(x.id))));
  for (const r of next.values()) for (const e of valueEntries(r)) if (affected.has(e.value)) holders.get(e.value)!.push({ kind: e.kind, id: e.id });

  // Users (not dirty) whose verdict may flip: read them.
  const others = new Set<string>();
  for (const list of holders.values()) for (const h of list) if (h.kind === "w" && !next.has(h.id)) others.add(h.id);
  for (const r of (await deps.connector.getMany(tenantId, [...others])).values()) if (r.iid) next.set(r.id, { ...r, iid: { ...r.iid } });
  for (const [v, list] of holders) {
    const wanting = list.filter((h) => h.kind === "w");
    for (const w of wanting) {
      const r = next.get(w.id);
      if (!r?.iid || !wantsValue(r.iid.cat) || valueKey(r.iid.value ?? "") !== v) continue;
      const dup = wanting.length > 1 || list.some((h) => h.kind !== "w" && h.id !== w.id);
      r.iid.cat = dup ? "duplicateValue" : "planned";
    }
  }

  const changed = [...next.values()].filter((r) => r.iidDirty || JSON.stringify(r.iid ?? null) !== JSON.stringify(r.stored?.iid ?? null));
  for (const r of changed) {
    const cat = r.iid?.cat;
    if (cat && cat !== "planned" && cat !== "removed") {
      const ex = (examples[cat as SkipReason] ??= []);
      if (ex.length < 50) ex.push(r.id);
    }
  }
  // What the plan gains and loses (for the live plan), before the stored states are replaced.
  const hashBefore = sumHash(summaries);
  const changes = { set: [] as PlanEntry[], removed: [] as string[] };
  for (const r of changed) {
    if (r.iid?.cat === "planned") changes.set.push(plannedFromRow(r));
    else if (r.stored?.iid?.cat === "planned") changes.removed.push(r.id);
  }
  if (changed.length) await deps.connector.saveCandidates(tenantId, changed, summaries);

  const pendingIds = (await deps.connector.indexKeys(tenantId, PENDING_PREFIX)).map((k) => k.slice(PENDING_PREFIX.length));
  const pending = [...(await deps.connector.getMany(tenantId, pendingIds)).values()].filter((r) => r.upnSwitch && !r.removed);
  const builtAt = [...summaries.values()].map((s) => s.builtAt).sort()[0] ?? "";
  return {
    ...summarize(sumCounts(summaries), sumHash(summaries)),
    evaluated: next.size,
    changes: { ...changes, hashBefore },
    builtAt,
    examples,
    pendingUpnRestores: pending,
    loadEntries: async () => {
      const ids = (await deps.connector.indexKeys(tenantId, PLANNED_PREFIX)).map((k) => k.slice(PLANNED_PREFIX.length));
      const rows = await deps.connector.getMany(tenantId, ids);
      return [...rows.values()].filter((r) => r.iid?.cat === "planned").map(plannedFromRow).sort(byPlanOrder);
    },
  };
}

export type { CandidateState };
