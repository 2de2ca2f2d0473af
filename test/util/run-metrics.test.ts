import { describe, expect, it } from "vitest";
import { TableClient, type TransactionAction } from "@azure/data-tables";
import { useAzurite } from "../support/stack.js";
import { entitiesIn, tableRequestCounterPolicy, withRequestCounter, type RequestCounter } from "../../src/util/run-metrics.js";

// The run report's table requests and rows read, counted by the pipeline policy every table client carries: on
// Azurite, against what the answers hold.
const azuriteOf = useAzurite();

describe("the table request counter", () => {
  it("counts every request and every entity read: list pages (with and without $select), point reads, writes and table listings", async () => {
    const table = TableClient.fromConnectionString(azuriteOf().connectionString, "runmetrics", { allowInsecureConnection: true });
    table.pipeline.addPolicy(tableRequestCounterPolicy);
    // The answers' text, to count entities the way a reader of the body would.
    const texts: string[] = [];
    table.pipeline.addPolicy({
      name: "recordAnswers",
      async sendRequest(req, next) {
        const res = await next(req);
        if (req.method === "GET" && res.status === 200 && res.bodyAsText) texts.push(res.bodyAsText);
        return res;
      },
    });
    await table.createTable();
    const p = "p";
    for (let i = 0; i < 1_200; i += 100)
      await table.submitTransaction(Array.from({ length: 100 }, (_, k): TransactionAction => ["create", { partitionKey: p, rowKey: `r${String(i + k).padStart(5, "0")}`, text: 'a "RowKey": in a value', n: k }]));

    const c: RequestCounter = { table: 0, rows: 0 };
    let listed = 0;
    await withRequestCounter(c, async () => {
      for await (const _ of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${p}'` } })) listed++;
      for await (const _ of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${p}' and RowKey lt 'r00300'`, select: ["RowKey", "n"] } })) listed++;
      await table.getEntity(p, "r00007");
      listed++;
      for await (const _ of table.listEntities({ queryOptions: { filter: `PartitionKey eq 'nobody'` } })) listed++;
      await table.upsertEntity({ partitionKey: p, rowKey: "r00007", n: 7 }, "Replace");
    });
    expect(listed).toBe(1_501);
    expect(c.rows).toBe(1_501);
    // The same as a reader of the answers' text finds (one "RowKey" per entity; escaped in values).
    expect(c.rows).toBe(texts.reduce((n, t) => n + entitiesIn(t), 0));
    // 2 pages + 1 page + 1 point read + 1 empty page + 1 write.
    expect(c.table).toBe(6);
  });
});
