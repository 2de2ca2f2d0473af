/**
 * Azurite's cost per write against the size of the partition it writes into: the local stack's Azurite with keyed
 * lookups only ("before": Loki's binary indexes, dev/azurite-keyed-lookup.cjs) and with the key index as well ("after":
 * dev/azurite-key-index.cjs, what the local stack runs), side by side in one run. For each, a partition is filled
 * (transactions of 100 new rows) to each size, then 100-operation transactions of each kind a sync sends are timed —
 * new rows, replaces and merges of existing rows, deletes — with point reads and a 100-row key-range query.
 * `npm run bench -- azurite [--size N]` (N rows in the large partition, default 100,000).
 */
import { AzureNamedKeyCredential, TableClient, type TransactionAction } from "@azure/data-tables";
import { DEV_ACCOUNT, DEV_KEY, startAzurite } from "../dev/azurite.js";
import { azuriteCpuSeconds, log, median, round } from "./common.js";

export interface AzuriteRow {
  variant: "before" | "after";
  partitionRows: number;
  fillSeconds: number;
  /** Median ms per 100-operation transaction, by kind. */
  insertMs: number;
  replaceMs: number;
  mergeMs: number;
  deleteMs: number;
  /** Median ms of one point read, and of a key-range query returning 100 rows. */
  pointReadMs: number;
  rangeQueryMs: number;
  /** Azurite's CPU ms per 100-operation transaction while the samples ran (point reads and range queries included). */
  cpuMsPerTransaction: number;
  azuriteCpuSeconds: number;
}

const SAMPLES = 12;
const pad = (n: number) => String(n).padStart(7, "0");
const row = (pk: string, i: number, v: string) => ({ partitionKey: pk, rowKey: `u|${pad(i)}`, userName: `user${i}@school.example`, firstName: `First${i}`, lastName: `Last${i}`, email: `user${i}@school.example`, externalId: `00000000-0000-4000-8000-${pad(i).padStart(12, "0")}`, city: v, role: i % 20 ? "student" : "teacher" });

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

async function measure(variant: AzuriteRow["variant"], sizes: readonly number[]): Promise<AzuriteRow[]> {
  const az = await startAzurite({ keyIndex: variant === "after" });
  try {
    const client = new TableClient(az.tableUrl, "benchazurite", new AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY), { allowInsecureConnection: true });
    await client.createTable();
    const out: AzuriteRow[] = [];
    for (const size of sizes) {
      const pk = `p${size}`;
      const cpu0 = azuriteCpuSeconds();
      const f0 = performance.now();
      let lastLog = f0;
      for (let i = 0; i < size; i += 100) {
        await client.submitTransaction(Array.from({ length: Math.min(100, size - i) }, (_, k): TransactionAction => ["create", row(pk, i + k, "Lund")]));
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          log(`  azurite (${variant}): filling ${pk} ${i.toLocaleString("en-US")} / ${size.toLocaleString("en-US")}`);
        }
      }
      const fillSeconds = (performance.now() - f0) / 1000;
      // Each sample touches 100 rows spread over the whole partition (a sync's users are anywhere in it).
      const spread = (s: number) => Array.from({ length: 100 }, (_, k) => ((k * Math.floor(size / 100) + s * 7) % size));
      const cpuSamples0 = azuriteCpuSeconds();
      const insert: number[] = [], replace: number[] = [], merge: number[] = [], del: number[] = [], point: number[] = [], range: number[] = [];
      for (let s = 0; s < SAMPLES; s++) {
        insert.push(await timed(() => client.submitTransaction(Array.from({ length: 100 }, (_, k): TransactionAction => ["create", row(pk, size + s * 100 + k, "Lund")]))));
        replace.push(await timed(() => client.submitTransaction(spread(s).map((i): TransactionAction => ["upsert", row(pk, i, `Malmö ${s}`), "Replace"]))));
        merge.push(await timed(() => client.submitTransaction(spread(s).map((i): TransactionAction => ["update", { partitionKey: pk, rowKey: `u|${pad(i)}`, city: `Visby ${s}` }, "Merge"]))));
        del.push(await timed(() => client.submitTransaction(Array.from({ length: 100 }, (_, k): TransactionAction => ["delete", { partitionKey: pk, rowKey: `u|${pad(size + s * 100 + k)}` }]))));
        point.push(await timed(() => client.getEntity(pk, `u|${pad((s * 7919) % size)}`)));
        const lo = (s * 4999) % (size - 100);
        range.push(
          await timed(async () => {
            let n = 0;
            for await (const e of client.listEntities({ queryOptions: { filter: `PartitionKey eq '${pk}' and RowKey ge 'u|${pad(lo)}' and RowKey lt 'u|${pad(lo + 100)}'` } })) n += e ? 1 : 0;
            if (n !== 100) throw new Error(`the range query returned ${n} rows, not 100`);
          }),
        );
      }
      // Azurite's own CPU per transaction while sampling (not the fill): wall times move with the machine's load, this does not.
      const cpuMsPerTransaction = ((azuriteCpuSeconds() - cpuSamples0) * 1000) / (SAMPLES * 4);
      const r: AzuriteRow = {
        variant,
        partitionRows: size,
        fillSeconds: round(fillSeconds, 1),
        cpuMsPerTransaction: round(cpuMsPerTransaction, 1),
        insertMs: round(median(insert), 1),
        replaceMs: round(median(replace), 1),
        mergeMs: round(median(merge), 1),
        deleteMs: round(median(del), 1),
        pointReadMs: round(median(point), 2),
        rangeQueryMs: round(median(range), 1),
        azuriteCpuSeconds: round(azuriteCpuSeconds() - cpu0, 1),
      };
      log(`  azurite (${variant}): ${JSON.stringify(r)}`);
      out.push(r);
    }
    return out;
  } finally {
    await az.stop();
  }
}

export async function benchAzurite(o: { size: number; variants?: ReadonlyArray<AzuriteRow["variant"]> }): Promise<{ rows: AzuriteRow[]; growth: Record<string, Record<string, number>> }> {
  const sizes = [2500, o.size];
  const variants = o.variants ?? ["before", "after"];
  const rows: AzuriteRow[] = [];
  for (const v of variants) rows.push(...(await measure(v, sizes)));
  // Growth: ms per transaction in the large partition ÷ in the small one, per variant and kind (1 = independent of size).
  const growth: Record<string, Record<string, number>> = {};
  for (const v of variants) {
    const [small, large] = sizes.map((s) => rows.find((r) => r.variant === v && r.partitionRows === s)!);
    growth[v] = Object.fromEntries((["insertMs", "replaceMs", "mergeMs", "deleteMs", "pointReadMs", "rangeQueryMs", "cpuMsPerTransaction"] as const).map((k) => [k, round(large![k] / small![k], 2)]));
  }
  return { rows, growth };
}
