import { randomBytes } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { LEASE_ROW, LeaseRows, leaseFromEntity, leaseToEntity as toEntity, type Lease, type LeaseEntity } from "../state/leases.js";

/*
 * The run lease of one tenant: at most one run per tenant holds it at a time, whatever triggered the run. It is
 * claimed when a run is created (queued), taken by the invocation that works on the run, handed back between
 * continuations, and released when the run ends. The row itself (and its format) is src/state/leases.ts's.
 */

/** How long leases last. Queued runs wait in the queue; working runs renew their lease. */
export interface LeaseTimes {
  /** A queued run (or one waiting for its continuation) keeps the tenant this long before it counts as lost. */
  queuedMs: number;
  /** A working invocation holds the lease this long past each renewal. */
  workingMs: number;
}

export const DEFAULT_LEASE_TIMES: LeaseTimes = { queuedMs: 60 * 60_000, workingMs: 3 * 60_000 };

/** A lease is active (a run is queued or under way) until it is released or expires. */
export const isActive = (l: Pick<Lease, "released" | "expiresAt"> | undefined, now: Date): boolean => !!l && !l.released && Date.parse(l.expiresAt) > now.getTime();

/** A random token naming one invocation (or CLI process) working on a run. */
export const newOwner = (): string => randomBytes(8).toString("hex");

export type ClaimResult = { ok: true; lease: Lease; previous: Lease | undefined } | { ok: false; held: Lease | undefined };

/** The lease's rules (claim, take, renew, hand off, release) over the lease rows, each write guarded by the row's ETag. */
export class LeaseStore {
  private readonly rows: LeaseRows;

  constructor(
    table: TableClient,
    private readonly clock: () => Date,
    readonly times: LeaseTimes = DEFAULT_LEASE_TIMES,
  ) {
    this.rows = new LeaseRows(table);
  }

  async get(tenantId: string): Promise<Lease | undefined> {
    return this.rows.get(tenantId);
  }

  /**
   * Claims the tenant for a new run. Fails (ok: false, with the holder) while another run is queued or under way;
   * of any number of simultaneous claims exactly one wins. `owner` set means the caller starts working at once (CLI).
   */
  async claim(tenantId: string, runId: string, o: { owner?: string; nextRunAt?: string | undefined; /** The row as already read (null: known absent); saves a read. */ current?: Lease | null } = {}): Promise<ClaimResult> {
    const now = this.clock();
    const current = o.current === undefined ? await this.get(tenantId) : (o.current ?? undefined);
    if (isActive(current, now)) return { ok: false, held: current };
    const ms = o.owner ? this.times.workingMs : this.times.queuedMs;
    const next: LeaseEntity = {
      partitionKey: tenantId,
      rowKey: LEASE_ROW,
      runId,
      owner: o.owner ?? "",
      expiresAt: new Date(now.getTime() + ms).toISOString(),
      continuation: 0,
      released: false,
      ...(o.nextRunAt ?? current?.nextRunAt ? { nextRunAt: (o.nextRunAt ?? current?.nextRunAt)! } : {}),
    };
    const written = await this.write(next, current?.etag);
    if (!written) return { ok: false, held: await this.get(tenantId) };
    return { ok: true, lease: leaseFromEntity({ ...next, etag: written }), previous: current };
  }

  /**
   * Takes the lease for one invocation of job (runId, continuation). Refused when another invocation holds it, when
   * the job is stale (a later continuation is expected) or when another run owns the tenant.
   */
  async take(tenantId: string, runId: string, continuation: number, owner: string): Promise<{ ok: true; lease: Lease } | { ok: false; reason: string; held: Lease | undefined }> {
    const now = this.clock();
    const current = await this.get(tenantId);
    if (current && current.runId !== runId) {
      if (isActive(current, now)) return { ok: false, reason: `run ${current.runId} holds the tenant`, held: current };
    } else if (current) {
      if (current.released) return { ok: false, reason: `run ${runId} has already ended`, held: current };
      if (current.continuation !== continuation) return { ok: false, reason: `stale job: continuation ${current.continuation} is expected, this is ${continuation}`, held: current };
      if (current.owner && Date.parse(current.expiresAt) > now.getTime()) return { ok: false, reason: `another invocation is working on run ${runId}`, held: current };
    }
    const next: LeaseEntity = {
      partitionKey: tenantId,
      rowKey: LEASE_ROW,
      runId,
      owner,
      expiresAt: new Date(now.getTime() + this.times.workingMs).toISOString(),
      continuation,
      released: false,
      ...(current?.nextRunAt ? { nextRunAt: current.nextRunAt } : {}),
    };
    const written = await this.write(next, current?.etag);
    if (!written) return { ok: false, reason: "another invocation took the lease first", held: await this.get(tenantId) };
    return { ok: true, lease: leaseFromEntity({ ...next, etag: written }) };
  }

  /** Extends a held lease. Returns the renewed lease, or undefined when it was lost (someone took it over). */
  async renew(lease: Lease): Promise<Lease | undefined> {
    const expiresAt = new Date(this.clock().getTime() + this.times.workingMs).toISOString();
    const etag = await this.write({ ...toEntity(lease), expiresAt }, lease.etag);
    return etag ? { ...lease, expiresAt, etag } : undefined;
  }

  /** Hands the lease to the next continuation of the same run, which waits in the queue. */
  async handOff(lease: Lease, continuation: number): Promise<Lease | undefined> {
    const expiresAt = new Date(this.clock().getTime() + this.times.queuedMs).toISOString();
    const next = { ...toEntity(lease), owner: "", continuation, expiresAt };
    const etag = await this.write(next, lease.etag);
    return etag ? { ...lease, owner: "", continuation, expiresAt, etag } : undefined;
  }

  /** Gives an invocation's hold back without ending the run (the host will retry the same job). */
  async letGo(lease: Lease): Promise<void> {
    await this.write({ ...toEntity(lease), owner: "" }, lease.etag);
  }

  /** Ends the run's hold on the tenant. Only the holder's ETag may do it; a lost lease is left to its new holder. */
  async release(lease: Lease): Promise<boolean> {
    const now = this.clock().toISOString();
    return !!(await this.write({ ...toEntity(lease), owner: "", released: true, expiresAt: now }, lease.etag));
  }

  /** Releases whatever lease `runId` holds (poison handling: the holder's ETag is unknown). */
  async releaseRun(tenantId: string, runId: string): Promise<boolean> {
    const current = await this.get(tenantId);
    if (!current || current.runId !== runId || current.released) return false;
    return this.release(current);
  }

  /** Sets when the tenant's next scheduled run is due (ETag-guarded; retried on conflicts). */
  async setNextRunAt(tenantId: string, nextRunAt: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const current = await this.get(tenantId);
      const base: LeaseEntity = current ? toEntity(current) : { partitionKey: tenantId, rowKey: LEASE_ROW, runId: "", owner: "", expiresAt: new Date(0).toISOString(), continuation: 0, released: true };
      if (await this.write({ ...base, nextRunAt }, current?.etag)) return;
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `The lease of tenant ${tenantId} kept changing; try again.`);
  }

  private async write(e: LeaseEntity, etag: string | undefined): Promise<string | undefined> {
    return this.rows.write(e, etag);
  }
}
