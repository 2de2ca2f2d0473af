/**
 * Immutable ID sync, step 2: the writes. Users go in groups of 20, several groups in flight. For each group: re-read
 * the users in one `$batch` of GETs and leave alone anyone who gained an ImmutableId (or changed otherwise) since
 * the plan; PATCH the rest in one `$batch`, paced by the write budget; record every success in the connector space
 * before the next group, so that a crash and a rerun write nobody twice.
 */
import type { ConnectorRow } from "../connector/space.js";
import { EntraSyncError } from "../errors.js";
import { missingPermissionAdvice } from "../graph/permissions.js";
import type { BatchRetryOptions, GraphAnswer, TenantDomains, TenantGraph, UserPatch, UserState } from "../graph/tenant-graph.js";
import type { WritePacer } from "../graph/write-budget.js";
import { chunk } from "../util/concurrency.js";
import { upnDomain, type PlannedUser, type SkipReason } from "./planner.js";

/** Users per group: one `$batch` (Graph's limit is 20 requests). */
export const GROUP_SIZE = 20;

/** Why a write failed (the report's `failed` keys). */
export type FailReason = "duplicateValue" | "onPremisesSynced" | "federatedDomain" | "valueNotAllowed" | "notFound" | "upnSwitchFailed" | "throttled" | "transient" | "refused";

/** Points where tests make the writer fail as a crash would (between groups, or after Graph answered a write). */
export interface WriterHooks {
  beforeGroup?(index: number): void | Promise<void>;
  afterWrite?(index: number): void | Promise<void>;
  /** After switchUpn moved the UPNs of a group, before its second step. */
  afterMove?(index: number): void | Promise<void>;
}

/** The Graph calls the writer makes. */
export type WriterGraph = Pick<TenantGraph, "tenant" | "readUsers" | "findUsers" | "patchUsers">;

export interface WriterOptions {
  graph: WriterGraph;
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
  batch?: BatchRetryOptions | undefined;
  /**
   * Records every write of a group sent to Entra, with its outcome, in the audit log: one call per group of 20, after
   * the group's successes are saved.
   */
  audit?: ((writes: EntraWrite[]) => Promise<void>) | undefined;
}

/** One user's write into Entra as the audit log records it: the attributes, old → new, and what became of it. */
export interface EntraWrite {
  entraId: string;
  platformUserId: string;
  changes: Array<{ attribute: "onPremisesImmutableId" | "userPrincipalName"; old: string | null; new: string | null }>;
  outcome: "applied" | "failed";
  reason?: string;
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
export function classifyWriteFailure(a: GraphAnswer, context: WriteContext = {}): { reason: FailReason | "privilegedUser"; message: string } {
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
  return new ImmutableIdWriter(o).run(users);
}

/** A pacer holding `n` writes taken from `budget` at once; writes beyond them are taken from `budget` as they go. */
export function prepaidPacer(budget: WritePacer, n: number): WritePacer {
  let credit = n;
  const ready = budget.take(n);
  return {
    take: async (k: number) => {
      await ready;
      const own = Math.min(credit, k);
      credit -= own;
      if (k > own) await budget.take(k - own);
    },
  };
}

/** How one group's users stand after the re-read. */
interface Reread {
  /** Rows to record: what the re-read found where it differs from the plan. */
  rows: ConnectorRow[];
  /** Users to write with one PATCH. */
  plain: PlannedUser[];
  /** Users in a federated domain to write with switchUpn. */
  switching: PlannedUser[];
}

interface PatchCall {
  /** Pacer to take the writes from (default: the step's budget). */
  pacer?: WritePacer;
  /**
   * A whole group refused with 403 before anything was written is the app lacking User.ReadWrite.All, not privileged
   * users: stop the run with advice. Off for a switchUpn second step: its UPN moves went through, so the app may
   * write, and 403s there are privileged users.
   */
  consentCheck: boolean;
}

/** One call of `writeImmutableIds`: its options, its outcome so far, and the groups still to write. */
class ImmutableIdWriter {
  private readonly out: WriteOutcome = { written: 0, skipped: {}, failed: {}, upnNotRestored: [], patches: 0, completed: true, elapsedMs: 0 };
  private groups: PlannedUser[][] = [];
  private next = 0;
  private aborted: unknown;

  constructor(private readonly o: WriterOptions) {}

  async run(users: readonly PlannedUser[]): Promise<WriteOutcome> {
    const started = performance.now();
    this.groups = chunk(users, GROUP_SIZE);
    const workers = Math.max(1, Math.min(this.o.concurrency ?? 4, this.groups.length));
    await Promise.all(Array.from({ length: workers }, () => this.worker()));
    this.out.elapsedMs = performance.now() - started;
    if (this.aborted !== undefined) throw this.aborted;
    return this.out;
  }

  /** Takes groups one by one until none is left, the caller asks to stop, or another worker failed. */
  private async worker(): Promise<void> {
    for (;;) {
      if (this.aborted !== undefined) return;
      if (this.o.shouldStop?.()) {
        if (this.next < this.groups.length) this.out.completed = false;
        return;
      }
      const i = this.next++;
      if (i >= this.groups.length) return;
      try {
        await this.writeGroup(i, this.groups[i]!);
      } catch (e) {
        this.aborted ??= e;
        return;
      }
    }
  }

  private skip(reason: SkipReason, id: string): void {
    (this.out.skipped[reason] ??= []).push(id);
  }

  private fail(reason: FailReason, id: string, message: string): void {
    (this.out.failed[reason] ??= []).push({ id, message });
  }

  private isFederated(upn: string): boolean {
    return this.o.domains.federated.has(upnDomain(upn));
  }

  private async writeGroup(index: number, list: PlannedUser[]): Promise<void> {
    await this.o.hooks?.beforeGroup?.(index);
    const { rows, plain, switching } = await this.reread(list);
    const writes: EntraWrite[] = [];
    try {
      const done = await this.writePlain(plain, writes);
      await this.o.hooks?.afterWrite?.(index);
      const marked = new Set<string>();
      if (switching.length) done.push(...(await this.switchUpn(index, switching, marked, writes)));
      await this.record(rows, done, marked);
    } finally {
      // What was sent is recorded even when the group stops half way (a crash hook, a consent failure).
      if (writes.length) await this.o.audit?.(writes);
    }
  }

  /** Re-reads the group and leaves alone anyone who gained an ImmutableId (or changed otherwise) since the plan. */
  private async reread(list: PlannedUser[]): Promise<Reread> {
    const fresh = await this.o.graph.readUsers(list.map((u) => u.entraId), this.o.batch);
    const result: Reread = { rows: [], plain: [], switching: [] };
    for (const u of list) {
      const a = fresh.get(u.entraId);
      if (!a || a.status === 404) {
        this.skip("notFound", u.entraId);
        continue;
      }
      if (a.status !== 200) {
        const c = classifyWriteFailure(a);
        this.fail(c.reason === "transient" ? "transient" : "refused", u.entraId, `re-read before the write failed: ${c.message}`);
        continue;
      }
      const b = a.body as unknown as UserState;
      const changed = b.onPremisesImmutableId || b.onPremisesSyncEnabled || (b.userPrincipalName && b.userPrincipalName !== u.userPrincipalName);
      const row = changed ? { ...u.row, user: { ...u.row.user, userPrincipalName: b.userPrincipalName ?? u.row.user.userPrincipalName, onPremisesImmutableId: b.onPremisesImmutableId ?? null, onPremisesSyncEnabled: b.onPremisesSyncEnabled ?? null } } : undefined;
      if (row) result.rows.push(row);
      if (b.onPremisesImmutableId) {
        this.skip("alreadySet", u.entraId);
        continue;
      }
      if (b.onPremisesSyncEnabled) {
        this.skip("onPremisesSynced", u.entraId);
        continue;
      }
      const upn = b.userPrincipalName ?? u.userPrincipalName;
      const cur: PlannedUser = { ...u, userPrincipalName: upn, row: row ?? u.row };
      if (!this.isFederated(upn)) result.plain.push(cur);
      else if (this.o.federatedDomains !== "switchUpn" || !this.o.domains.initial) this.skip("federatedDomain", u.entraId);
      else result.switching.push(cur);
    }
    return result;
  }

  /** PATCHes users, counting every write sent (retries included) in `patches`. */
  private async patch(patches: UserPatch[], call: PatchCall): Promise<Map<string, GraphAnswer>> {
    if (patches.length === 0) return new Map();
    const pacer = call.pacer ?? this.o.budget;
    const counting: WritePacer = {
      take: async (n: number) => {
        this.out.patches += n;
        await pacer.take(n);
      },
    };
    const answers = await this.o.graph.patchUsers(patches, { pacer: counting }, this.o.batch);
    if (call.consentCheck && this.out.written === 0 && answers.size >= 10 && [...answers.values()].every((a) => a.status === 403)) {
      const t = this.o.graph.tenant;
      throw new EntraSyncError("AUTH_CONSENT_MISSING", `Graph refused every ImmutableId write in tenant ${t.tenantId} (403 Authorization_RequestDenied): writing onPremisesImmutableId needs the Microsoft Graph application permission User.ReadWrite.All. ${t.cloud ? missingPermissionAdvice({ ...t, cloud: t.cloud }, "User.ReadWrite.All") : `Ask the customer's admin to grant it to app ${t.clientId}.`}`, { retryable: false });
    }
    return answers;
  }

  /** Users outside federated domains: one PATCH of the ImmutableId each. Returns those written. */
  private async writePlain(plain: PlannedUser[], writes: EntraWrite[]): Promise<PlannedUser[]> {
    const answers = await this.patch(plain.map((u) => ({ key: u.entraId, userId: u.entraId, changes: { onPremisesImmutableId: u.value } })), { consentCheck: true });
    const done: PlannedUser[] = [];
    for (const u of plain) {
      const a = answers.get(u.entraId)!;
      const ok = a.status >= 200 && a.status < 300;
      const c = ok ? undefined : classifyWriteFailure(a, { federatedUpn: this.isFederated(u.userPrincipalName) });
      writes.push({ entraId: u.entraId, platformUserId: u.platformUserId, changes: [{ attribute: "onPremisesImmutableId", old: null, new: u.value }], outcome: ok ? "applied" : "failed", ...(c ? { reason: `${c.reason}: ${c.message}` } : {}) });
      if (ok) done.push(u);
      else if (c) {
        if (c.reason === "privilegedUser") this.skip("privilegedUser", u.entraId);
        else this.fail(c.reason, u.entraId, c.message);
      }
    }
    return done;
  }

  /**
   * Records what the re-read found and every success before the next group goes (a recorded move that did not finish
   * keeps the row switchUpn wrote).
   */
  private async record(rows: ConnectorRow[], done: PlannedUser[], marked: Set<string>): Promise<void> {
    const doneIds = new Set(done.map((u) => u.entraId));
    const save = rows.filter((r) => !doneIds.has(r.id) && !marked.has(r.id));
    for (const u of done) {
      // A switchUpn marker stays only while the UPN is still the temporary one (its restore failed).
      const marker = u.row.upnSwitch && u.userPrincipalName.toLowerCase() === u.row.upnSwitch.temporary.toLowerCase() ? u.row.upnSwitch : undefined;
      save.push({ ...u.row, upnSwitch: marker, user: { ...u.row.user, userPrincipalName: u.userPrincipalName, onPremisesImmutableId: u.value } });
    }
    if (save.length) await this.o.saveRows(save);
    this.out.written += done.length;
    this.o.onGroup?.(this.out);
  }

  /**
   * Federated-domain users: move the UPN to the initial domain, then set the ImmutableId and put the UPN back in one
   * PATCH. The user cannot sign in between the two steps. Entra moves a user into a federated domain only with an
   * ImmutableId, so once the UPN has moved it can go back only together with one: everything that can be checked is
   * checked before the move (the value free in Entra, the temporary UPN free, the writes of both steps reserved), and
   * a user whose second step is refused stays on the temporary UPN, its move recorded, for every later run to finish.
   * Adds the users it moved to `marked` (their rows carry the move). Returns those written.
   */
  private async switchUpn(index: number, list: PlannedUser[], marked: Set<string>, writes: EntraWrite[]): Promise<PlannedUser[]> {
    const temp = new Map(list.map((u) => [u.entraId, `${u.userPrincipalName.slice(0, u.userPrincipalName.lastIndexOf("@"))}@${this.o.domains.initial}`]));
    const clear = await this.freeInEntra(list, temp);
    if (clear.length === 0) return [];
    // Both steps' writes are taken from the budget before the first one goes, so the second never waits on it.
    const pacer = prepaidPacer(this.o.budget, 2 * clear.length);
    // Durable before the move: should this process die between the steps, the next run finishes the move.
    const at = new Date().toISOString();
    await this.o.saveRows(clear.map((u) => ({ ...u.row, upnSwitch: { original: u.userPrincipalName, temporary: temp.get(u.entraId)!, at, value: u.value } })));
    for (const u of clear) marked.add(u.entraId);
    const moved = await this.patch(
      clear.map((u) => ({ key: `m-${u.entraId}`, userId: u.entraId, changes: { userPrincipalName: temp.get(u.entraId)! } })),
      { pacer, consentCheck: true },
    );
    const move = (u: PlannedUser, outcome: EntraWrite["outcome"], reason?: string): void => {
      writes.push({ entraId: u.entraId, platformUserId: u.platformUserId, changes: [{ attribute: "userPrincipalName", old: u.userPrincipalName, new: temp.get(u.entraId)! }], outcome, ...(reason ? { reason } : {}) });
    };
    for (const u of clear) {
      const a = moved.get(`m-${u.entraId}`)!;
      if (a.status >= 200 && a.status < 300) move(u, "applied");
      else {
        const c = classifyWriteFailure(a);
        move(u, "failed", `${c.reason === "transient" || c.reason === "throttled" ? "no answer (it may have landed)" : c.reason}: ${c.message}`);
      }
    }
    await this.o.hooks?.afterMove?.(index);
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
      this.fail("upnSwitchFailed", u.entraId, `moving the UPN to ${temp.get(u.entraId)} failed (nothing changed): ${c.message}`);
      return false;
    });
    const set = await this.patch(
      ready.map((u) => ({ key: `s-${u.entraId}`, userId: u.entraId, changes: { onPremisesImmutableId: u.value, userPrincipalName: u.userPrincipalName } })),
      { pacer, consentCheck: false },
    );
    const done: PlannedUser[] = [];
    for (const u of ready) {
      const a = set.get(`s-${u.entraId}`)!;
      const ok = a.status >= 200 && a.status < 300;
      writes.push({
        entraId: u.entraId,
        platformUserId: u.platformUserId,
        changes: [
          { attribute: "onPremisesImmutableId", old: null, new: u.value },
          { attribute: "userPrincipalName", old: temp.get(u.entraId)!, new: u.userPrincipalName },
        ],
        outcome: ok ? "applied" : "failed",
        ...(ok ? {} : { reason: `${classifyWriteFailure(a).reason}: ${classifyWriteFailure(a).message}` }),
      });
      if (ok) {
        done.push(u);
        continue;
      }
      const c = classifyWriteFailure(a);
      if (uncertain.has(u.entraId)) {
        this.fail("upnSwitchFailed", u.entraId, `moving the UPN to ${temp.get(u.entraId)} got no answer, and finishing it was refused (${c.message}): the next run reads where the UPN is and finishes or forgets the move`);
        continue;
      }
      // No UPN-alone put-back: Entra refuses to move a user without an ImmutableId into a federated domain.
      if (c.reason === "privilegedUser") this.skip("privilegedUser", u.entraId);
      else this.fail(c.reason, u.entraId, `${c.message} (the user is left on ${temp.get(u.entraId)})`);
      this.out.upnNotRestored.push({ id: u.entraId, upn: u.userPrincipalName, temporaryUpn: temp.get(u.entraId)!, reason: c.reason, answer: c.message });
    }
    return done;
  }

  /**
   * The users whose value no other object holds in Entra and whose temporary UPN is free (two `$filter` reads per
   * user, in `$batch`es): the connector space may not know a value or a UPN set since the last sync. The others fail
   * here, before anything changed.
   */
  private async freeInEntra(list: PlannedUser[], temp: Map<string, string>): Promise<PlannedUser[]> {
    const answers = await this.o.graph.findUsers(
      list.flatMap((u) => [
        { key: `v-${u.entraId}`, property: "onPremisesImmutableId" as const, value: u.value },
        { key: `t-${u.entraId}`, property: "userPrincipalName" as const, value: temp.get(u.entraId)! },
      ]),
      this.o.batch,
    );
    const others = (a: GraphAnswer | undefined, self: string) => ((a?.body?.["value"] as Array<{ id: string }> | undefined) ?? []).filter((x) => x.id !== self).length;
    return list.filter((u) => {
      const v = answers.get(`v-${u.entraId}`);
      const t = answers.get(`t-${u.entraId}`);
      for (const [a, what] of [[v, "the value"], [t, "the temporary UPN"]] as const)
        if (!a || a.status !== 200) {
          const c = classifyWriteFailure(a ?? { status: 0 });
          this.fail(c.reason === "transient" || c.reason === "throttled" ? c.reason : "refused", u.entraId, `checking that ${what} is free before moving the UPN failed (nothing changed): ${c.message}`);
          return false;
        }
      if (others(v, u.entraId) > 0) {
        this.fail("duplicateValue", u.entraId, `another object in Entra already has this ImmutableId (found before moving the UPN; nothing changed)`);
        return false;
      }
      if (others(t, u.entraId) > 0) {
        this.fail("upnSwitchFailed", u.entraId, `the temporary UPN ${temp.get(u.entraId)} is taken (found before moving the UPN; nothing changed)`);
        return false;
      }
      return true;
    });
  }
}
