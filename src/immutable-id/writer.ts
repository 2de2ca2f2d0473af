/**
 * Immutable ID sync, step 2: the writes. Users go in groups of 20, several groups in flight. For each group: re-read
 * the users in one `$batch` of GETs and leave alone anyone who gained an ImmutableId (or changed otherwise) since
 * the plan; PATCH the rest in one `$batch`, paced by the write budget; record every success in the connector space
 * before the next group, so that a crash and a rerun write nobody twice.
 */
import type { Client } from "@microsoft/microsoft-graph-client";
import type { ConnectorRow } from "../connector/space.js";
import { EntraSyncError } from "../errors.js";
import type { GraphCounters } from "../graph/client.js";
import type { TenantRef } from "../graph/errors.js";
import { missingPermissionAdvice } from "../graph/permissions.js";
import { chunk } from "../util/concurrency.js";
import { BATCH_SIZE, executeBatch, type BatchAnswer, type BatchOptions, type BatchRequest } from "./batch.js";
import { upnDomain, type PlannedUser, type SkipReason, type TenantDomains } from "./planner.js";
import type { WritePacer } from "./write-budget.js";

/** Why a write failed (the report's `failed` keys). */
export type FailReason = "duplicateValue" | "onPremisesSynced" | "federatedDomain" | "valueNotAllowed" | "notFound" | "upnSwitchFailed" | "throttled" | "transient" | "refused";

/** Points where tests make the writer fail as a crash would (between groups, or after Graph answered a write). */
export interface WriterHooks {
  beforeGroup?(index: number): void | Promise<void>;
  afterWrite?(index: number): void | Promise<void>;
  /** After switchUpn moved the UPNs of a group, before its second step. */
  afterMove?(index: number): void | Promise<void>;
}

export interface WriterOptions {
  client: Client;
  tenant: TenantRef;
  counters: GraphCounters;
  budget: WritePacer;
  domains: TenantDomains;
  federatedDomains: "skip" | "switchUpn";
  /** Groups of 20 in flight at once (default 4). */
  concurrency?: number;
  /** Records rows in the connector space (the writes' successes and what the re-read found). */
  saveRows(rows: ConnectorRow[]): Promise<void>;
  /** Asked before each group: true stops cleanly (the rest is left for the next invocation). */
  shouldStop?: (() => boolean) | undefined;
  hooks?: WriterHooks | undefined;
  onGroup?: ((o: WriteOutcome) => void) | undefined;
  batch?: Partial<Pick<BatchOptions, "maxAttempts" | "backoffMs" | "maxThrottleRetries">> | undefined;
}

export interface WriteOutcome {
  written: number;
  skipped: Partial<Record<SkipReason, string[]>>;
  failed: Partial<Record<FailReason, Array<{ id: string; message: string }>>>;
  /** switchUpn users left on the temporary UPN (their second step refused): their move stays recorded. */
  upnNotRestored: Array<{ id: string; upn: string; temporaryUpn: string; reason: FailReason | "privilegedUser"; answer: string }>;
  /** ImmutableId PATCHes sent (retries included). */
  patches: number;
  completed: boolean;
  elapsedMs: number;
}

const SELECT = "id,userPrincipalName,onPremisesImmutableId,onPremisesSyncEnabled";
const userUrl = (id: string) => `/users/${encodeURIComponent(id)}`;

interface Refreshed {
  id: string;
  userPrincipalName?: string | null;
  onPremisesImmutableId?: string | null;
  onPremisesSyncEnabled?: boolean | null;
}

/** What was true of a write when it was sent, for telling refusals apart by context rather than wording. */
export interface WriteContext {
  /** The PATCH set onPremisesImmutableId while the user's UPN was in a federated domain. */
  federatedUpn?: boolean;
}

/**
 * Classifies Graph's refusal of a write by its status, error code and the write's context (never by retrying it).
 * A federated-domain refusal is a plain 400 Request_BadRequest whose wording Graph does not promise: it is known by
 * the user's UPN being in a federated domain when the ImmutableId was set.
 */
export function classifyWriteFailure(a: BatchAnswer, context: WriteContext = {}): { reason: FailReason | "privilegedUser"; message: string } {
  const err = a.body?.error;
  const message = `HTTP ${a.status}${err?.code ? ` ${err.code}` : ""}: ${err?.message ?? "no error body"}`;
  const details = (err?.details ?? []).map((d) => d.code);
  if (a.status === 403 && err?.code === "Authorization_RequestDenied") return { reason: "privilegedUser", message };
  if (a.status === 404 || err?.code === "Request_ResourceNotFound") return { reason: "notFound", message };
  if (details.includes("ObjectConflict") || /another object with the same value/i.test(err?.message ?? "")) return { reason: "duplicateValue", message };
  if (/on-premises mastered|Directory Sync objects/i.test(err?.message ?? "")) return { reason: "onPremisesSynced", message };
  if (a.status === 400 && err?.code === "Request_BadRequest" && details.length === 0 && context.federatedUpn) return { reason: "federatedDomain", message };
  if (/onPremisesImmutableId/i.test(err?.message ?? "") && a.status === 400) return { reason: "valueNotAllowed", message };
  if (a.status === 429) return { reason: "throttled", message };
  if (a.status === 0 || a.status >= 500) return { reason: "transient", message };
  return { reason: "refused", message };
}

/** Writes the planned ImmutableIds. Throws only for failures of the whole tenant (auth, consent). */
export async function writeImmutableIds(users: readonly PlannedUser[], o: WriterOptions): Promise<WriteOutcome> {
  const started = performance.now();
  const out: WriteOutcome = { written: 0, skipped: {}, failed: {}, upnNotRestored: [], patches: 0, completed: true, elapsedMs: 0 };
  const groups = chunk(users, BATCH_SIZE);
  const base: Omit<BatchOptions, "budget" | "verify"> = { client: o.client, tenant: o.tenant, counters: o.counters, ...o.batch };
  const skip = (r: SkipReason, id: string) => (out.skipped[r] ??= []).push(id);
  const fail = (r: FailReason, id: string, message: string) => (out.failed[r] ??= []).push({ id, message });
  let next = 0;
  let aborted: unknown;

  const read = async (ids: string[]): Promise<Map<string, BatchAnswer>> =>
    executeBatch(ids.map((id) => ({ id, method: "GET", url: `${userUrl(id)}?$select=${SELECT}` })), base);

  /** Ids (request ids) whose user now holds the expected state: a lost answer that did land. */
  const verifier = (expected: Map<string, { userId: string; value?: string; upn?: string }>) => async (ids: string[]) => {
    const want = ids.map((id) => expected.get(id)!).filter(Boolean);
    const got = await read(want.map((w) => w.userId));
    const ok = new Set<string>();
    for (const id of ids) {
      const w = expected.get(id);
      const b = w ? (got.get(w.userId)?.body as unknown as Refreshed | undefined) : undefined;
      if (w && b && (w.value === undefined || b.onPremisesImmutableId === w.value) && (w.upn === undefined || b.userPrincipalName === w.upn)) ok.add(id);
    }
    return ok;
  };

  /** A pacer holding `n` writes already taken from the budget; writes beyond them are taken as they go. */
  const prepaid = (n: number): WritePacer => {
    let credit = n;
    const ready = o.budget.take(n);
    return {
      take: async (k: number) => {
        await ready;
        const own = Math.min(credit, k);
        credit -= own;
        if (k > own) await o.budget.take(k - own);
      },
    };
  };

  const patch = async (reqs: Array<{ id: string; userId: string; body: Record<string, unknown>; expect: { value?: string; upn?: string } }>, pacer: WritePacer = o.budget): Promise<Map<string, BatchAnswer>> => {
    if (reqs.length === 0) return new Map();
    const expected = new Map(reqs.map((r) => [r.id, { userId: r.userId, ...r.expect }]));
    const counting = {
      take: async (n: number) => {
        out.patches += n;
        await pacer.take(n);
      },
    };
    const answers = await executeBatch(reqs.map((r): BatchRequest => ({ id: r.id, method: "PATCH", url: userUrl(r.userId), body: r.body })), { ...base, budget: counting, verify: verifier(expected) });
    // A whole group refused with 403 before anything was written is the app lacking User.ReadWrite.All, not
    // privileged users: stop the run with advice instead of marking everyone privileged.
    // (Not for a switchUpn second step: its UPN moves went through, so the app may write; 403s there are privileged users.)
    const all403 = [...answers.values()].every((a) => a.status === 403);
    if (all403 && answers.size >= 10 && out.written === 0 && !reqs.every((r) => r.id.startsWith("s-")))
      throw new EntraSyncError("AUTH_CONSENT_MISSING", `Graph refused every ImmutableId write in tenant ${o.tenant.tenantId} (403 Authorization_RequestDenied): writing onPremisesImmutableId needs the Microsoft Graph application permission User.ReadWrite.All. ${o.tenant.cloud ? missingPermissionAdvice({ ...o.tenant, cloud: o.tenant.cloud }, "User.ReadWrite.All") : `Ask the customer's admin to grant it to app ${o.tenant.clientId}.`}`, { retryable: false });
    return answers;
  };

  async function group(index: number, list: PlannedUser[]): Promise<void> {
    await o.hooks?.beforeGroup?.(index);
    const fresh = await read(list.map((u) => u.entraId));
    const rows: ConnectorRow[] = [];
    const plain: PlannedUser[] = [];
    const switching: PlannedUser[] = [];
    for (const u of list) {
      const a = fresh.get(u.entraId);
      if (!a || a.status === 404) {
        skip("notFound", u.entraId);
        continue;
      }
      if (a.status !== 200) {
        const c = classifyWriteFailure(a);
        fail(c.reason === "transient" ? "transient" : "refused", u.entraId, `re-read before the write failed: ${c.message}`);
        continue;
      }
      const b = a.body as unknown as Refreshed;
      const changed = b.onPremisesImmutableId || b.onPremisesSyncEnabled || (b.userPrincipalName && b.userPrincipalName !== u.userPrincipalName);
      if (changed) rows.push({ ...u.row, user: { ...u.row.user, userPrincipalName: b.userPrincipalName ?? u.row.user.userPrincipalName, onPremisesImmutableId: b.onPremisesImmutableId ?? null, onPremisesSyncEnabled: b.onPremisesSyncEnabled ?? null } });
      if (b.onPremisesImmutableId) {
        skip("alreadySet", u.entraId);
        continue;
      }
      if (b.onPremisesSyncEnabled) {
        skip("onPremisesSynced", u.entraId);
        continue;
      }
      const upn = b.userPrincipalName ?? u.userPrincipalName;
      const cur: PlannedUser = { ...u, userPrincipalName: upn, row: rows.find((r) => r.id === u.entraId) ?? u.row };
      if (o.domains.federated.has(upnDomain(upn))) {
        if (o.federatedDomains !== "switchUpn" || !o.domains.initial) skip("federatedDomain", u.entraId);
        else switching.push(cur);
      } else plain.push(cur);
    }

    const done: PlannedUser[] = [];
    const answers = await patch(plain.map((u) => ({ id: u.entraId, userId: u.entraId, body: { onPremisesImmutableId: u.value }, expect: { value: u.value } })));
    await o.hooks?.afterWrite?.(index);
    for (const u of plain) {
      const a = answers.get(u.entraId)!;
      if (a.status >= 200 && a.status < 300) done.push(u);
      else {
        const c = classifyWriteFailure(a, { federatedUpn: o.domains.federated.has(upnDomain(u.userPrincipalName)) });
        if (c.reason === "privilegedUser") skip("privilegedUser", u.entraId);
        else fail(c.reason, u.entraId, c.message);
      }
    }
    const marked = new Set<string>();
    if (switching.length) done.push(...(await switchUpn(index, switching, marked)));

    // Record what the re-read found and every success before the next group goes (a recorded move that did not
    // finish keeps the row switchUpn wrote).
    const doneIds = new Set(done.map((u) => u.entraId));
    const save = rows.filter((r) => !doneIds.has(r.id) && !marked.has(r.id));
    for (const u of done) {
      // A switchUpn marker stays only while the UPN is still the temporary one (its restore failed).
      const marker = u.row.upnSwitch && u.userPrincipalName.toLowerCase() === u.row.upnSwitch.temporary.toLowerCase() ? u.row.upnSwitch : undefined;
      save.push({ ...u.row, upnSwitch: marker, user: { ...u.row.user, userPrincipalName: u.userPrincipalName, onPremisesImmutableId: u.value } });
    }
    if (save.length) await o.saveRows(save);
    out.written += done.length;
    o.onGroup?.(out);
  }

  /**
   * Federated-domain users: move the UPN to the initial domain, then set the ImmutableId and put the UPN back in one
   * PATCH. The user cannot sign in between the two steps. Entra moves a user into a federated domain only with an
   * ImmutableId, so once the UPN has moved it can go back only together with one: everything that can be checked is
   * checked before the move (the value free in Entra, the temporary UPN free, the writes of both steps reserved), and
   * a user whose second step is refused stays on the temporary UPN, its move recorded, for every later run to finish.
   */
  async function switchUpn(index: number, list: PlannedUser[], marked: Set<string>): Promise<PlannedUser[]> {
    const temp = new Map(list.map((u) => [u.entraId, `${u.userPrincipalName.slice(0, u.userPrincipalName.lastIndexOf("@"))}@${o.domains.initial}`]));
    const clear = await freeInEntra(list, temp);
    if (clear.length === 0) return [];
    // Both steps' writes are taken from the budget before the first one goes, so the second never waits on it.
    const budget = prepaid(2 * clear.length);
    // Durable before the move: should this process die between the steps, the next run finishes the move.
    const at = new Date().toISOString();
    await o.saveRows(clear.map((u) => ({ ...u.row, upnSwitch: { original: u.userPrincipalName, temporary: temp.get(u.entraId)!, at, value: u.value } })));
    for (const u of clear) marked.add(u.entraId);
    const moved = await patch(clear.map((u) => ({ id: `m-${u.entraId}`, userId: u.entraId, body: { userPrincipalName: temp.get(u.entraId) }, expect: { upn: temp.get(u.entraId)! } })), budget);
    await o.hooks?.afterMove?.(index);
    const uncertain = new Set<string>();
    const ready = clear.filter((u) => {
      const a = moved.get(`m-${u.entraId}`)!;
      if (a.status >= 200 && a.status < 300) return true;
      const c = classifyWriteFailure(a);
      // A move whose answer was lost (5xx, network, throttled to the end) may have landed: the second step finishes
      // it if it did, and is refused (nothing changes) if it did not.
      if (c.reason === "transient" || c.reason === "throttled") {
        uncertain.add(u.entraId);
        return true;
      }
      fail("upnSwitchFailed", u.entraId, `moving the UPN to ${temp.get(u.entraId)} failed (nothing changed): ${c.message}`);
      return false;
    });
    const set = await patch(ready.map((u) => ({ id: `s-${u.entraId}`, userId: u.entraId, body: { onPremisesImmutableId: u.value, userPrincipalName: u.userPrincipalName }, expect: { value: u.value, upn: u.userPrincipalName } })), budget);
    const done: PlannedUser[] = [];
    for (const u of ready) {
      const a = set.get(`s-${u.entraId}`)!;
      if (a.status >= 200 && a.status < 300) {
        done.push(u);
        continue;
      }
      const c = classifyWriteFailure(a);
      if (uncertain.has(u.entraId)) {
        fail("upnSwitchFailed", u.entraId, `moving the UPN to ${temp.get(u.entraId)} got no answer, and finishing it was refused (${c.message}): the next run reads where the UPN is and finishes or forgets the move`);
        continue;
      }
      // No UPN-alone put-back: Entra refuses to move a user without an ImmutableId into a federated domain.
      if (c.reason === "privilegedUser") skip("privilegedUser", u.entraId);
      else fail(c.reason, u.entraId, `${c.message} (the user is left on ${temp.get(u.entraId)})`);
      out.upnNotRestored.push({ id: u.entraId, upn: u.userPrincipalName, temporaryUpn: temp.get(u.entraId)!, reason: c.reason, answer: c.message });
    }
    return done;
  }

  /**
   * The users whose value no other object holds in Entra and whose temporary UPN is free (one `$batch` of two
   * `$filter` reads per 10 users): the connector space may not know a value or a UPN set since the last sync. The
   * others fail here, before anything changed.
   */
  async function freeInEntra(list: PlannedUser[], temp: Map<string, string>): Promise<PlannedUser[]> {
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const holders = async (reqs: BatchRequest[]) => {
      const got = new Map<string, BatchAnswer>();
      for (const part of chunk(reqs, BATCH_SIZE)) for (const [k, v] of await executeBatch(part, base)) got.set(k, v);
      return got;
    };
    const answers = await holders(
      list.flatMap((u): BatchRequest[] => [
        { id: `v-${u.entraId}`, method: "GET", url: `/users?$filter=${encodeURIComponent(`onPremisesImmutableId eq ${q(u.value)}`)}&$select=id` },
        { id: `t-${u.entraId}`, method: "GET", url: `/users?$filter=${encodeURIComponent(`userPrincipalName eq ${q(temp.get(u.entraId)!)}`)}&$select=id` },
      ]),
    );
    const others = (a: BatchAnswer | undefined, self: string) => ((a?.body?.["value"] as Array<{ id: string }> | undefined) ?? []).filter((x) => x.id !== self).length;
    return list.filter((u) => {
      const v = answers.get(`v-${u.entraId}`);
      const t = answers.get(`t-${u.entraId}`);
      for (const [a, what] of [[v, "the value"], [t, "the temporary UPN"]] as const)
        if (!a || a.status !== 200) {
          const c = classifyWriteFailure(a ?? { status: 0 });
          fail(c.reason === "transient" || c.reason === "throttled" ? c.reason : "refused", u.entraId, `checking that ${what} is free before moving the UPN failed (nothing changed): ${c.message}`);
          return false;
        }
      if (others(v, u.entraId) > 0) {
        fail("duplicateValue", u.entraId, `another object in Entra already has this ImmutableId (found before moving the UPN; nothing changed)`);
        return false;
      }
      if (others(t, u.entraId) > 0) {
        fail("upnSwitchFailed", u.entraId, `the temporary UPN ${temp.get(u.entraId)} is taken (found before moving the UPN; nothing changed)`);
        return false;
      }
      return true;
    });
  }

  const worker = async () => {
    for (;;) {
      if (aborted !== undefined) return;
      if (o.shouldStop?.()) {
        if (next < groups.length) out.completed = false;
        return;
      }
      const i = next++;
      if (i >= groups.length) return;
      try {
        await group(i, groups[i]!);
      } catch (e) {
        aborted ??= e;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 4, groups.length)) }, worker));
  out.elapsedMs = performance.now() - started;
  if (aborted !== undefined) throw aborted;
  return out;
}
