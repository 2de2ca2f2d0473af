import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { odata, RestError, TableClient, type TransactionAction } from "@azure/data-tables";
import { startAzurite, type AzuriteInstance } from "../../dev/azurite.js";
import { useOwnListing } from "../../src/state/table-list.js";

// Our entity queries against the SDK's, on Azurite: the same requests (URL and headers), the same entities in the
// same order with the same property order and types, the same pages and continuation tokens, the same errors.
let azurite: AzuriteInstance;
const table = `list${Math.random().toString(36).slice(2, 10)}`;
const pk = "p'1 ü|!%";
beforeAll(async () => {
  azurite = await startAzurite();
  const c = TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });
  await c.createTable();
  // 1,050 rows: more than one page of the service's (at most 1,000 entities per page).
  for (let i = 0; i < 1050; i += 100) {
    const actions: TransactionAction[] = [];
    for (let j = i; j < Math.min(i + 100, 1050); j++) actions.push(["create", { partitionKey: pk, rowKey: `r${String(j).padStart(5, "0")}`, s: `v${j} ü "q" \\ / 😀`, n: j, f: j + 0.5, b: j % 2 === 0, ...(j % 7 === 0 && { odd: "sometimes" }) }]);
    await c.submitTransaction(actions);
  }
  await c.createEntity({ partitionKey: "other", rowKey: "a'b", s: "x" });
  await c.createEntity({ partitionKey: "typed", rowKey: "t1", big: BigInt("9007199254740993"), when: new Date("2024-05-06T07:08:09.123Z"), bytes: new Uint8Array([1, 2, 255]), guid: { value: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", type: "Guid" }, dbl: { value: "2", type: "Double" }, s: "plain" });
  await c.createEntity({ partitionKey: "typed", rowKey: "t2", s: "plain too" });
  await c.createEntity({ partitionKey: "lookalike", rowKey: "l1", s: 'reads "x@odata.type": but is a string' });
}, 120_000);
afterAll(async () => {
  await azurite?.stop();
});

/** A client that records every request it sends (URL and headers, less those that differ per request). */
function client(own: boolean, name = table): { client: TableClient; requests: string[] } {
  const c = TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
  const requests: string[] = [];
  c.pipeline.addPolicy({
    name: "recordRequests",
    sendRequest: (req, next) => {
      const { "x-ms-client-request-id": _id, "x-ms-date": _date, authorization: _auth, ...headers } = req.headers.toJSON();
      requests.push(`${req.method} ${req.url} ${JSON.stringify(headers)}`);
      return next(req);
    },
  });
  return { client: own ? useOwnListing(c, { allowInsecureConnection: true }) : c, requests };
}

/** Runs the same listing with the SDK's and with ours; returns what each gave (entities as JSON: order and types). */
async function both(list: (c: TableClient) => Promise<unknown>) {
  const run = async (own: boolean) => {
    const x = client(own);
    let error: unknown;
    const result = await list(x.client).catch((e: unknown) => {
      error = e;
    });
    return { result, error, requests: x.requests };
  };
  return { sdk: await run(false), own: await run(true) };
}

const shown = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? [...x] : x));
async function all(c: TableClient, options: Parameters<TableClient["listEntities"]>[0]) {
  const out: unknown[] = [];
  for await (const e of c.listEntities(options)) out.push(e);
  return out;
}

describe("entity queries answered by our code", () => {
  it("list every entity of a filter over the service's pages: same requests, entities, property order", async () => {
    const { sdk, own } = await both((c) => all(c, { queryOptions: { filter: odata`PartitionKey eq ${pk}` } }));
    expect(sdk.error).toBeUndefined();
    expect(own.error).toBeUndefined();
    expect((own.result as unknown[]).length).toBe(1050);
    expect(own.requests).toHaveLength(2); // 1,000 + 50: the continuation followed
    expect(own.requests).toEqual(sdk.requests);
    expect(shown(own.result)).toBe(shown(sdk.result));
    expect(Object.keys((own.result as object[])[0]!)).toEqual(Object.keys((sdk.result as object[])[0]!));
  });

  it("pages by byPage with a page size, a select (etag and SDK names), and continuation tokens the SDK takes", async () => {
    const pages = async (c: TableClient) => {
      const out: Array<{ entities: string; token: string | undefined }> = [];
      const it = c.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${pk} and RowKey ge ${"r00990"}`, select: ["rowKey", "partitionKey", "etag", "s", "odd"] } }).byPage({ maxPageSize: 25 });
      for await (const p of it) out.push({ entities: shown(p), token: p.continuationToken });
      // Resume from the second page's token with the other implementation's client: tokens are interchangeable.
      const other = client(true).client;
      for await (const p of other.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${pk} and RowKey ge ${"r00990"}` } }).byPage({ maxPageSize: 7, continuationToken: out[1]!.token })) {
        out.push({ entities: shown(p), token: p.continuationToken });
        break;
      }
      return out;
    };
    const { sdk, own } = await both(pages);
    expect(own.error).toBeUndefined();
    expect(own.requests).toEqual(sdk.requests);
    expect(own.result).toEqual(sdk.result);
    const got = own.result as Array<{ entities: string; token: string | undefined }>;
    expect(got.map((p) => (JSON.parse(p.entities) as unknown[]).length)).toEqual([25, 25, 10, 7]);
    expect(got[2]!.token).toBeUndefined();
    expect(JSON.parse(got[0]!.entities)[0]).toEqual(expect.objectContaining({ partitionKey: pk, rowKey: "r00990", s: expect.any(String), etag: expect.any(String) }));
  });

  it("gives typed values the SDK's types (such a page is read through the SDK), plain ones alike", async () => {
    const { sdk, own } = await both((c) => all(c, { queryOptions: { filter: odata`PartitionKey eq ${"typed"}` } }));
    expect(own.error).toBeUndefined();
    const [t1] = own.result as Array<Record<string, unknown>>;
    expect(t1!.big).toBe(BigInt("9007199254740993"));
    expect(t1!.when).toEqual(new Date("2024-05-06T07:08:09.123Z"));
    expect(shown(own.result)).toBe(shown(sdk.result));
    const lookalike = await both((c) => all(c, { queryOptions: { filter: odata`PartitionKey eq ${"lookalike"}` } }));
    expect(shown(lookalike.own.result)).toBe(shown(lookalike.sdk.result));
  });

  it("leaves queries it does not answer to the SDK (other options), with the same result", async () => {
    const { sdk, own } = await both((c) => all(c, { queryOptions: { filter: odata`PartitionKey eq ${"typed"}` }, disableTypeConversion: true }));
    expect(own.error).toBeUndefined();
    expect(shown(own.result)).toBe(shown(sdk.result));
    expect((own.result as Array<Record<string, unknown>>)[0]!.big).toEqual({ value: "9007199254740993", type: "Int64" });
  });

  it("finds nothing the same way, and fails the same way (no such table, a filter the service refuses)", async () => {
    const empty = await both((c) => all(c, { queryOptions: { filter: odata`PartitionKey eq ${"none"}` } }));
    expect(empty.own.result).toEqual([]);
    expect(empty.own.requests).toEqual(empty.sdk.requests);
    const errorOf = (e: unknown) => (e instanceof RestError ? { status: e.statusCode, code: e.code, message: e.message.replace(/RequestId:[0-9a-f-]+/, "").replace(/Time:[^"\\]+/, "") } : e);
    for (const [name, filter] of [[`gone${Math.random().toString(36).slice(2, 8)}`, "PartitionKey eq 'x'"], [table, "PartitionKey eq"]] as const) {
      const run = async (own: boolean) => {
        try {
          await all(client(own, name).client, { queryOptions: { filter } });
          return "no error";
        } catch (e) {
          return errorOf(e);
        }
      };
      const [sdkError, ownError] = [await run(false), await run(true)];
      expect(sdkError).not.toBe("no error");
      expect(ownError).toEqual(sdkError);
    }
  });
});
