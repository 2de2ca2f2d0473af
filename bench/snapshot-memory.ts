/**
 * What the full round's directory snapshot holds per user: heap bytes plus typed arrays' backing stores after a full
 * GC, for N demo platform users as the table adapter yields them (fresh objects and strings, as deserialised), in
 * three layouts side by side — whole user objects with string-keyed lookup maps (the first layout), the snapshot
 * (records in an encrypted temporary file; offsets and 32-bit hashed keys in typed arrays), and ids with hashed keys
 * in Maps (what a snapshot that reads every candidate back from the table would hold).
 * Each layout is measured in a child process of its own (`--expose-gc`). `npm run bench -- snapshot-memory [--size N]`.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { generateDemoTenant } from "../dev/demo/generate.js";
import { normalizeLookup, type StoredPlatformUser } from "../src/directory/directory.js";
import { lookupHash, snapshotLookup } from "../src/directory/snapshot.js";
import { BENCH_DIR } from "./common.js";
import type { ConnectorRow } from "../src/connector/space.js";
import { planImmutableIds } from "../src/immutable-id/planner.js";
import type { Tenant } from "../src/tenants/model.js";

const LAYOUTS = ["whole users + string keys", "snapshot (records on disk, typed arrays)", "ids + hashed keys", "full re-plan: connector rows as listed (what it kept before)", "full re-plan: peak held while planning page by page (hashes in typed arrays, rows on disk)"] as const;

/**
 * Connector rows of the demo tenant as a full sync leaves them (matched by index; no candidate state yet), and its
 * platform users, one JSON text per row: parsed one at a time, so only what the planner keeps is live.
 */
function rowsJson(n: number): { rows: string[]; users: string[] } {
  const demo = generateDemoTenant({ seed: 1, size: n, tenantId: "t" });
  const rows = demo.entraUsers.map((u, i) => {
    const p = demo.platformUsers[i];
    return { id: u.id, user: u, match: p ? "matched" : "unmatched", platformUserId: p?.id, seenAt: "2026-11-30T19:00:00.000Z", stored: { keys: [] } };
  });
  return { rows: rows.map((r) => JSON.stringify(r)), users: demo.platformUsers.map((u, i) => JSON.stringify({ ...u, externalId: demo.entraUsers[i]?.id, tenantId: "t", etag: `W/"${i}"` })) };
}

/** Heap and the typed arrays' backing stores (outside the heap, counted in `arrayBuffers`), after two full GCs. */
function heldAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

/** The users as one JSON text: the generated tenant is garbage before the first measurement. */
function usersJson(n: number): string {
  const demo = generateDemoTenant({ seed: 1, size: n, tenantId: "t" });
  return JSON.stringify(demo.platformUsers.map((u, i) => ({ ...u, tenantId: "t", etag: `W/"datetime'2026-11-30T19%3A00%3A00.${String(i).padStart(7, "0")}Z'"` })));
}

async function measure(layout: number, n: number): Promise<number> {
  if (layout >= 3) return measurePlan(layout, n);
  const json = usersJson(n);
  const list = async function* () {
    for (const u of JSON.parse(json) as StoredPlatformUser[]) yield u;
  };
  const h0 = heldAfterGc();
  let hold: unknown;
  if (layout === 0) {
    const maps = { externalId: new Map<string, StoredPlatformUser[]>(), userName: new Map<string, StoredPlatformUser[]>(), email: new Map<string, StoredPlatformUser[]>() };
    for await (const u of list()) for (const [a, m] of Object.entries(maps)) if (u[a as "email"]) m.set(normalizeLookup(a as "email", u[a as "email"]!), [...(m.get(normalizeLookup(a as "email", u[a as "email"]!)) ?? []), u]);
    hold = maps;
  } else if (layout === 1) {
    hold = await snapshotLookup({ list, findBy: async () => new Map(), get: async () => undefined } as never, "t", ["externalId", "userName"]);
  } else {
    const ids: string[] = [];
    const ext = new Map<number, number>();
    const name = new Map<number, number>();
    for await (const u of list()) {
      const i = ids.push(u.id) - 1;
      if (u.externalId) ext.set(lookupHash(u.externalId), i);
      if (u.userName) name.set(lookupHash(normalizeLookup("userName", u.userName)), i);
    }
    hold = [ids, ext, name];
  }
  const bytes = heldAfterGc() - h0;
  return hold ? bytes / n : 0;
}

/**
 * What a full Immutable ID re-plan holds (rows and platform users listed fresh): layout 3, the rows as listed; layout 4,
 * the planner's peak, sampled after a full GC every 5,000 rows listed, at every page of states it hands over to be
 * stored (the last pages come after the whole listing) and while its entries are streamed.
 */
async function measurePlan(layout: number, n: number): Promise<number> {
  const json = rowsJson(n);
  let sample = () => {};
  const connector = {
    async *list() {
      let i = 0;
      for (const r of json.rows) {
        if (++i % 5000 === 0) sample();
        yield JSON.parse(r) as ConnectorRow;
      }
    },
  };
  const directory = {
    get: async () => undefined,
    async *list() {
      for (const u of json.users) yield JSON.parse(u) as StoredPlatformUser;
    },
  };
  // Parse every text once before the baseline: the first parse of a text shrinks what the heap holds for it (seen
  // as held bytes going down by ~80 per row while listing), which would hide what the planner keeps.
  for (const t of [...json.rows, ...json.users]) JSON.parse(t);
  const h0 = heldAfterGc();
  let hold: unknown;
  if (layout === 3) {
    const rows: ConnectorRow[] = [];
    for await (const r of connector.list()) rows.push(r);
    hold = rows;
  } else {
    const tenant = { tenantId: "t", immutableId: { mode: "preview", source: "id", encoding: "base64", federatedDomains: "skip", maxWritesPerRun: 500, maxPercentPerRun: 10 } } as unknown as Tenant;
    let peak = 0;
    sample = () => void (peak = Math.max(peak, heldAfterGc() - h0));
    const plan = await planImmutableIds({ connector, directory } as never, tenant, { federated: new Set(), initial: "t.onmicrosoft.com" }, { store: async () => sample() });
    sample();
    let planned = 0;
    for await (const _e of plan.entries()) if (++planned % 10_000 === 0) sample();
    plan.close();
    if (planned !== plan.planned || planned < n / 2) throw new Error(`the plan streamed ${planned} entries of ${plan.planned}`);
    return peak / n;
  }
  const bytes = heldAfterGc() - h0;
  return hold ? bytes / n : 0;
}

export async function benchSnapshotMemory(o: { size: number }): Promise<Array<{ layout: string; users: number; bytesPerUser: number; mb: number }>> {
  const out = [];
  for (const [i, layout] of LAYOUTS.entries()) {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", path.join(BENCH_DIR, "snapshot-memory.ts"), String(i), String(o.size)], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    await new Promise((r) => child.once("exit", r));
    const bytesPerUser = Number(text.trim());
    out.push({ layout, users: o.size, bytesPerUser: Math.round(bytesPerUser), mb: Math.round((bytesPerUser * o.size) / 2 ** 20 * 10) / 10 });
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] !== undefined) {
  measure(Number(process.argv[2]), Number(process.argv[3] ?? 100_000)).then((b) => process.stdout.write(`${b}\n`));
}
