import { describe, expect, it } from "vitest";
import { RestError, TableClient, type TransactionAction } from "@azure/data-tables";
import { useAzurite } from "../support/stack.js";
import { plainTransaction, useOwnTransactions } from "../../src/state/table-transaction.js";

// Our transactions against the SDK's, on Azurite: the same request body byte for byte (ids aside), the same rows
// stored, the same errors.
const azuriteOf = useAzurite();

/** A client of table `name` that records the body of every transaction it sends. */
function client(name: string, own: boolean): { client: TableClient; bodies: string[] } {
  const c = TableClient.fromConnectionString(azuriteOf().connectionString, name, { allowInsecureConnection: true });
  const bodies: string[] = [];
  c.pipeline.addPolicy({
    name: "recordBatch",
    sendRequest: (req, next) => {
      if (req.url.includes("$batch")) bodies.push(String(req.body).replace(/(batch|changeset)_[0-9a-f-]{36}/g, "$1_ID").replace(/If-Match: W\/"datetime'[^']*'"/g, "If-Match: ETAG"));
      return next(req);
    },
  });
  return { client: own ? useOwnTransactions(c, { allowInsecureConnection: true }) : c, bodies };
}

/** Every row of a partition, service properties left out. */
async function rows(c: TableClient, pk: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for await (const e of c.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` } })) {
    const { etag: _e, timestamp: _t, ...rest } = e;
    out.push(rest);
  }
  return out;
}

/** Runs the same steps with the SDK's transactions and with ours (each on a fresh table); returns both. */
async function both(steps: (c: TableClient) => Promise<unknown>) {
  const run = async (own: boolean) => {
    const name = `tx${own ? "own" : "sdk"}${Math.random().toString(36).slice(2, 10)}`;
    const x = client(name, own);
    await x.client.createTable();
    let error: unknown;
    const result = await steps(x.client).catch((e: unknown) => {
      error = e;
    });
    return { ...x, name, result, error, rows: await rows(x.client, "p'1 ü|!%") };
  };
  return { sdk: await run(false), own: await run(true) };
}

const pk = "p'1 ü|!%";
const awkward = ["a'b", "!v|x%2Fy|h|id", " audit|123|abc", "ü ñ 😀", "a+b=c&d", 'q"uote', "(paren)*~"];

describe("table transactions written by our code", () => {
  it("send the SDK's request byte for byte and store the same rows, for every kind of action", async () => {
    const steps = async (c: TableClient) => {
      await c.submitTransaction(awkward.map((rk, i): TransactionAction => ["create", { partitionKey: pk, rowKey: rk, s: `v${i} ü "q" \\ /`, n: i, f: i + 0.5, b: i % 2 === 0, u: undefined }]));
      const etag = (await c.getEntity(pk, "a'b")).etag;
      await c.submitTransaction([
        ["update", { partitionKey: pk, rowKey: "a'b", s: "replaced" }, "Replace", { etag }],
        ["update", { partitionKey: pk, rowKey: "!v|x%2Fy|h|id", extra: "merged" }, "Merge"],
        ["upsert", { partitionKey: pk, rowKey: " audit|123|abc", s: "upserted" }, "Replace"],
        ["upsert", { partitionKey: pk, rowKey: "ü ñ 😀", more: true }, "Merge"],
        ["upsert", { partitionKey: pk, rowKey: "new one" }],
        ["upsert", { z: "properties before the keys", rowKey: "keys last", partitionKey: pk, n: null }, "Replace"],
        ["upsert", { s: ',"rowKey":"not a key", {"partitionKey":', partitionKey: pk, rowKey: 'key names, "rowKey": in values' }, "Replace"],
        ["delete", { partitionKey: pk, rowKey: "a+b=c&d" }],
        ["update", { partitionKey: pk, rowKey: 'q"uote', s: "any etag" }, "Replace"],
      ]);
    };
    const { sdk, own } = await both(steps);
    expect(sdk.error).toBeUndefined();
    expect(own.error).toBeUndefined();
    expect(own.bodies).toHaveLength(2);
    expect(own.bodies.map((b) => b.replaceAll(own.name, "T"))).toEqual(sdk.bodies.map((b) => b.replaceAll(sdk.name, "T")));
    expect(own.rows).toEqual(sdk.rows);
    expect(own.rows.find((r) => r.rowKey === "!v|x%2Fy|h|id")).toMatchObject({ extra: "merged", s: "v1 ü \"q\" \\ /" });
    expect(own.rows.some((r) => r.rowKey === "a+b=c&d")).toBe(false);
  });

  it("answer with each created entity's ETag, as stored", async () => {
    const { own, sdk } = await both(async (c) => {
      const r = await c.submitTransaction([["create", { partitionKey: pk, rowKey: "a'b", s: "x" }]]);
      return { etag: r.getResponseForEntity("a'b")?.etag ?? r.subResponses[0]?.etag, status: r.status, subStatus: r.subResponses.map((s) => s.status), stored: (await c.getEntity(pk, "a'b")).etag };
    });
    const o = own.result as { etag: string; stored: string; status: number; subStatus: number[] };
    expect(o.etag).toBe(o.stored);
    expect({ status: o.status, subStatus: o.subStatus }).toEqual({ status: (sdk.result as typeof o).status, subStatus: (sdk.result as typeof o).subStatus });
  });

  it.each([
    ["a delete of a missing row (404)", async (c: TableClient) => c.submitTransaction([["upsert", { partitionKey: pk, rowKey: "x" }, "Replace"], ["delete", { partitionKey: pk, rowKey: "missing" }]])],
    ["a create of an existing row (409)", async (c: TableClient) => {
      await c.createEntity({ partitionKey: pk, rowKey: "x" });
      await c.submitTransaction([["create", { partitionKey: pk, rowKey: "x", s: "again" }]]);
    }],
    ["a replace guarded by an old ETag (412)", async (c: TableClient) => {
      await c.createEntity({ partitionKey: pk, rowKey: "x", s: "1" });
      const { etag } = await c.getEntity(pk, "x");
      await c.updateEntity({ partitionKey: pk, rowKey: "x", s: "2" }, "Replace");
      await c.submitTransaction([["update", { partitionKey: pk, rowKey: "x", s: "3" }, "Replace", { etag }]]);
    }],
  ])("fail as the SDK's do: %s, nothing of the transaction stored", async (_, steps) => {
    const { sdk, own } = await both(steps);
    expect(sdk.error).toBeInstanceOf(RestError);
    expect(own.error).toBeInstanceOf(RestError);
    const shape = (e: unknown) => ({ statusCode: (e as RestError).statusCode, code: (e as RestError).code, message: (e as RestError).message.split("\n")[0] });
    expect(shape(own.error)).toEqual(shape(sdk.error));
    expect(own.rows).toEqual(sdk.rows);
  });

  it("refuse actions of two partitions before sending anything", async () => {
    const x = client(`txmix${Date.now()}`, true);
    await expect(x.client.submitTransaction([["upsert", { partitionKey: "a", rowKey: "1" }], ["upsert", { partitionKey: "b", rowKey: "1" }]])).rejects.toThrow(/same partitionKey/);
    expect(x.bodies).toHaveLength(0);
  });

  it("leave entities of typed values (Dates, bigints, binary) to the SDK's own path", async () => {
    expect(plainTransaction([["upsert", { partitionKey: "a", rowKey: "1", s: "x", n: 1, b: false }]])).toBe(true);
    expect(plainTransaction([["upsert", { partitionKey: "a", rowKey: "1", d: new Date(0) }]])).toBe(false);
    expect(plainTransaction([["upsert", { partitionKey: "a", rowKey: "1", n: 1n }]])).toBe(false);
    expect(plainTransaction([["upsert", { partitionKey: "a", rowKey: "1", etag: "W/x" }]])).toBe(false);
    const { sdk, own } = await both((c) => c.submitTransaction([["create", { partitionKey: pk, rowKey: "d", at: new Date(Date.UTC(2026, 0, 1)), big: 2n ** 40n, bin: new Uint8Array([1, 2]) }]]));
    expect(own.error).toBeUndefined();
    expect(own.rows).toEqual(sdk.rows);
    expect(own.rows[0]?.big).toBe(2n ** 40n);
  });
});
