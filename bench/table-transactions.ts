/**
 * CPU of our process per entity written in table transactions: the SDK's `submitTransaction` against ours
 * (src/state/table-transaction.ts), side by side on the same Azurite, rounds alternating so that load on the machine
 * falls on both alike. Azurite's own time is not counted (it runs in its own process): only the client's CPU
 * (user + system of this process while the transactions run), which is what a full read pays per row.
 *
 *   npx tsx bench/table-transactions.ts [rounds=6] [transactions per round=40]
 */
import { TableClient, type TransactionAction } from "@azure/data-tables";
import { startAzurite } from "../dev/azurite.js";
import { mapLimit } from "../src/util/concurrency.js";
import { useOwnTransactions } from "../src/state/table-transaction.js";

const rounds = Number(process.argv[2] ?? 6);
const perRound = Number(process.argv[3] ?? 40);

/** A connector-space row as a full read writes it (a Graph user as JSON, its index keys) and an index entry. */
function actions(pk: string, round: number, tx: number): TransactionAction[] {
  const out: TransactionAction[] = [];
  for (let i = 0; i < 50; i++) {
    const id = `${round}-${tx}-${i}-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`;
    const user = { id, userPrincipalName: `student.${i}@school.onmicrosoft.com`, givenName: "Given", surname: "Surname", mail: `student.${i}@school.example`, department: "Year 7", jobTitle: "Student", onPremisesImmutableId: `imm-${id}`, accountEnabled: true };
    out.push(["upsert", { partitionKey: pk, rowKey: id, user: JSON.stringify(user), immutableId: user.onPremisesImmutableId, match: "matched", platformUserId: `p-${i}`, seenAt: "2026-01-01T00:00:00.000Z", idx: JSON.stringify([`!v|imm-${id}|h|${id}`]) }, "Replace"]);
    out.push(["upsert", { partitionKey: pk, rowKey: `!v|imm-${id}|h|${id}` }, "Replace"]);
  }
  return out;
}

const azurite = await startAzurite();
try {
  const make = (own: boolean) => {
    const c = TableClient.fromConnectionString(azurite.connectionString, "txbench", { allowInsecureConnection: true });
    return own ? useOwnTransactions(c, { allowInsecureConnection: true }) : c;
  };
  const clients = { sdk: make(false), own: make(true) };
  await clients.sdk.createTable();
  const totals = { sdk: { cpuUs: 0, entities: 0, ms: 0 }, own: { cpuUs: 0, entities: 0, ms: 0 } };
  for (let r = -1; r < rounds; r++) {
    // Round -1 warms both paths up (JIT, connections) and is not counted; then the order alternates.
    for (const mode of r % 2 === 0 ? (["sdk", "own"] as const) : (["own", "sdk"] as const)) {
      const client = clients[mode];
      const batches = Array.from({ length: perRound }, (_, tx) => actions(`${mode}_${tx % 4}`, r, tx));
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await mapLimit(batches, 4, (b) => client.submitTransaction(b));
      const cpu = process.cpuUsage(cpu0);
      if (r < 0) continue;
      totals[mode].cpuUs += cpu.user + cpu.system;
      totals[mode].ms += performance.now() - t0;
      totals[mode].entities += batches.reduce((n, b) => n + b.length, 0);
    }
  }
  const per = (m: "sdk" | "own") => totals[m].cpuUs / totals[m].entities;
  console.log(`entities per path: ${totals.sdk.entities.toLocaleString("en-US")} in ${rounds * perRound} transactions of 100`);
  console.log(`SDK submitTransaction: ${per("sdk").toFixed(1)} µs CPU per entity (${(totals.sdk.ms / 1000).toFixed(1)} s wall)`);
  console.log(`ours:                  ${per("own").toFixed(1)} µs CPU per entity (${(totals.own.ms / 1000).toFixed(1)} s wall)`);
  console.log(`SDK ÷ ours: ${(per("sdk") / per("own")).toFixed(2)}×`);
} finally {
  await azurite.stop();
}
