import { AzureNamedKeyCredential, TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { createRequire } from "node:module";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_ACCOUNT, DEV_KEY, startAzurite, type AzuriteInstance } from "../../dev/azurite.js";

// The local stack's Azurite (key index) against stock Azurite: the same writes, then the same reads, the same answers.
let stock: AzuriteInstance, ours: AzuriteInstance;
let a: TableClient, b: TableClient;
const client = (az: AzuriteInstance) => new TableClient(az.tableUrl, "keyindex", new AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY), { allowInsecureConnection: true });

// Row keys that sort in surprising ways: number-like strings, prefixes, characters around '|', non-ASCII.
const KEYS = ["10", "9", "1e3", "007", "a", "a|", "a|b", "a}", "A", "ä", "é|x", "!x|1", '"u1', "~"];
const rowKey = (i: number) => (i < KEYS.length ? KEYS[i]! : `u|${String(i).padStart(5, "0")}`);

async function both(f: (c: TableClient) => Promise<unknown>): Promise<[unknown, unknown]> {
  const settle = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (e: { statusCode?: number }) => ({ status: e.statusCode ?? "error" }));
  return [await settle(f(a)), await settle(f(b))];
}

const plain = (e: TableEntityResult<Record<string, unknown>>) => {
  const { etag: _e, timestamp: _t, "odata.metadata": _m, ...rest } = e as Record<string, unknown>;
  return rest;
};
async function list(c: TableClient, filter: string | undefined, pageSize?: number): Promise<unknown[]> {
  const out: unknown[] = [];
  const pages = c.listEntities<Record<string, unknown>>(filter ? { queryOptions: { filter } } : {}).byPage(pageSize ? { maxPageSize: pageSize } : {});
  for await (const page of pages) out.push(page.map(plain), "page");
  return out;
}

beforeAll(async () => {
  [stock, ours] = await Promise.all([startAzurite({ keyedLookups: false }), startAzurite()]);
  [a, b] = [client(stock), client(ours)];
  await Promise.all([a.createTable(), b.createTable()]);
  // 2,500 rows in partition P and 300 in Q, then every kind of change a sync makes, a failed transaction among them.
  for (const [pk, n] of [["P", 2500], ["Q", 300]] as const)
    for (let i = 0; i < n; i += 100)
      await both((c) => c.submitTransaction(Array.from({ length: Math.min(100, n - i) }, (_, k): TransactionAction => ["create", { partitionKey: pk, rowKey: rowKey(i + k), n: i + k, city: "Lund" }])));
  await both((c) => c.submitTransaction(Array.from({ length: 50 }, (_, k): TransactionAction => ["upsert", { partitionKey: "P", rowKey: rowKey(k * 7), n: -k, city: "Malmö" }, "Replace"])));
  await both((c) => c.submitTransaction(Array.from({ length: 50 }, (_, k): TransactionAction => ["update", { partitionKey: "P", rowKey: rowKey(k * 11 + 1), city: "Visby" }, "Merge"])));
  await both((c) => c.submitTransaction(Array.from({ length: 40 }, (_, k): TransactionAction => ["delete", { partitionKey: "P", rowKey: rowKey(k * 13 + 2) }])));
  // Fails on its last operation (the row exists): nothing of it may stay.
  await both((c) => c.submitTransaction([["upsert", { partitionKey: "Q", rowKey: rowKey(5), city: "gone?" }, "Replace"], ["delete", { partitionKey: "Q", rowKey: rowKey(6) }], ["create", { partitionKey: "Q", rowKey: "new" }], ["create", { partitionKey: "Q", rowKey: rowKey(7) }]]));
  await both((c) => c.deleteEntity("Q", rowKey(8)));
  await both((c) => c.updateEntity({ partitionKey: "Q", rowKey: rowKey(9), extra: true }, "Merge"));
}, 180_000);

afterAll(async () => {
  await Promise.all([stock?.stop(), ours?.stop()]);
});

describe("the local stack's Azurite (key index)", () => {
  it("answers keyed reads as stock Azurite does: changed, merged, deleted and rolled-back rows", async () => {
    const keys = [...Array.from({ length: 120 }, (_, i) => ["P", rowKey(i)]), ...Array.from({ length: 20 }, (_, i) => ["Q", rowKey(i)]), ["Q", "new"], ["P", "absent"]];
    for (const [pk, rk] of keys) {
      const [x, y] = await both((c) => c.getEntity(pk!, rk!).then(plain));
      expect(y, `${pk}/${rk}`).toEqual(x);
    }
  });

  it("answers partition and key-range queries with the same rows, order and pages", async () => {
    const filters = [
      "PartitionKey eq 'P'",
      "PartitionKey eq 'Q'",
      "PartitionKey eq 'P' and RowKey ge 'a' and RowKey lt 'a}'",
      "PartitionKey eq 'P' and RowKey gt '007' and RowKey le 'ä'",
      "PartitionKey eq 'P' and RowKey ge 'u|01000'",
      "RowKey lt 'u|00100' and PartitionKey eq 'P'",
      "PartitionKey eq 'P' and city eq 'Visby'",
      "PartitionKey eq 'P' and (RowKey eq 'a' or RowKey eq '9')",
      "PartitionKey eq 'P' and PartitionKey eq 'Q'",
      "PartitionKey eq 'R'",
      "city eq 'Malmö'",
      undefined,
    ];
    for (const f of filters) {
      const [x, y] = await both((c) => list(c, f));
      expect((x as { ok: unknown[] }).ok?.length, f).toBeGreaterThan(0);
      expect(y, f).toEqual(x);
    }
    // Small pages: the continuation (next partition and row key) walks the same way.
    for (const f of ["PartitionKey eq 'P' and RowKey ge 'u|00500'", "PartitionKey eq 'Q'"]) {
      const [x, y] = await both((c) => list(c, f, 97));
      expect(y, f).toEqual(x);
    }
  });
});

describe("the key index's collections (in this process)", () => {
  it("remove a row without moving the others: no splice of the table's rows, and every row still found by id and key", () => {
    const require = createRequire(import.meta.url);
    const azuriteDir = path.dirname(require.resolve("azurite/package.json"));
    const Loki = require(require.resolve("lokijs", { paths: [azuriteDir] })) as new (name: string) => {
      addCollection(name: string, o: object): LokiColl;
    };
    require("../../dev/azurite-key-index.cjs");
    type Row = { PartitionKey: string; RowKey: string; n: number; $loki?: number };
    type LokiColl = { data: Row[]; idIndex: number[]; insert(r: Row): Row; update(r: Row): Row; remove(r: Row): Row | null; get(id: number): Row | null; findOne(q: object): Row | null };
    const coll = new Loki("t").addCollection("table", { indices: ["PartitionKey", "RowKey"] });
    const want = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      coll.insert({ PartitionKey: `p${i % 3}`, RowKey: `r${i}`, n: i });
      want.set(`p${i % 3}/r${i}`, i);
    }
    // A merge (Loki's update in place) before any removal: Loki's id index is made on first use.
    const merged = coll.update({ ...coll.findOne({ PartitionKey: "p1", RowKey: "r1" })!, n: 1001 });
    want.set("p1/r1", 1001);
    expect(coll.get(merged.$loki!)?.n).toBe(1001);
    // Loki's own remove splices both arrays: O(rows in the table) per replace or delete.
    const noSplice = () => {
      throw new Error("spliced");
    };
    Object.defineProperty(coll.data, "splice", { value: noSplice });
    Object.defineProperty(coll.idIndex, "splice", { value: noSplice });
    // Replaces (remove + insert, as Azurite does them) and deletes, from the front, the middle and the end.
    for (let i = 0; i < 3000; i += 7) {
      const key = { PartitionKey: `p${i % 3}`, RowKey: `r${i}` };
      const doc = coll.findOne(key)!;
      expect(coll.remove(doc)).toBe(doc);
      if (i % 2) want.delete(`${key.PartitionKey}/${key.RowKey}`);
      else {
        coll.insert({ ...key, n: -i });
        want.set(`${key.PartitionKey}/${key.RowKey}`, -i);
      }
    }
    const last = coll.data[coll.data.length - 1]!;
    expect(coll.remove(last)).toBe(last);
    want.delete(`${last.PartitionKey}/${last.RowKey}`);
    expect(coll.data.length).toBe(want.size);
    for (const [k, n] of want) {
      const [pk, rk] = k.split("/");
      const row = coll.findOne({ PartitionKey: pk, RowKey: rk });
      expect(row?.n, k).toBe(n);
      expect(coll.get(row!.$loki!), k).toBe(row);
    }
    expect(new Set(coll.data.map((r) => r.$loki)).size).toBe(want.size);
    expect(coll.idIndex).toEqual(coll.data.map((r) => r.$loki));
  });
});
