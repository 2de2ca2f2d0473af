import { describe, expect, it } from "vitest";
import { checkpointToEntity, type Checkpoint } from "../../src/state/checkpoints.js";
import { healthToEntity, type TenantHealth } from "../../src/state/health.js";
import { leaseToEntity, type Lease } from "../../src/state/leases.js";
import { secretFactsToEntity, type SecretFacts } from "../../src/state/secret-facts.js";
import { addTenantStateRow, type TenantState } from "../../src/state/tenant-state.js";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

/** What a scan of the table hands back for a row that was written: the columns, plus the service's own properties. */
const scanned = (e: object, n: number): Record<string, unknown> => ({ ...e, etag: `W/"datetime'${n}'"`, timestamp: "2026-01-01T00:00:00.000Z", "odata.metadata": "x" });

const decode = (rows: Array<Record<string, unknown>>): Map<string, TenantState> => {
  const out = new Map<string, TenantState>();
  for (const r of rows) addTenantStateRow(out, r);
  return out;
};

describe("the combined tenant state scan", () => {
  const lease: Lease = { tenantId: A, runId: "8246183918321-1a2b3c4d", owner: "", expiresAt: "2026-01-01T01:00:00.000Z", continuation: 2, nextRunAt: "2026-01-01T02:00:00.000Z", released: false, etag: "" };
  const health: TenantHealth = {
    tenantId: A,
    consecutiveFailures: 3,
    quarantined: true,
    quarantinedAt: "2026-01-01T00:00:00.000Z",
    lastFailure: { code: "AUTH_SECRET_EXPIRED", class: "auth", message: "expired", action: "rotate", at: "2026-01-01T00:00:00.000Z" },
    backoffUntil: "2026-01-01T06:00:00.000Z",
  };
  const secret: SecretFacts = { source: "entra", version: "v1", generation: "1750000000.1790000000", expiresOn: "2026-06-30T00:00:00.000Z", mismatchDays: 2, checkedAt: "2026-01-01T00:00:00.000Z" };
  const checkpoint: Checkpoint = { link: "https://graph.example/v1.0/users/delta?$deltatoken=abc", kind: "delta", runId: "8246183918321-1a2b3c4d", round: "incremental", roundStartedAt: "2026-01-01T00:00:00.000Z", savedAt: "2026-01-01T00:00:00.000Z" };

  it("decodes each owner's row, as its store writes it, into that tenant's typed state", () => {
    const states = decode([
      scanned(leaseToEntity(lease), 1),
      scanned(healthToEntity(health), 2),
      scanned(secretFactsToEntity(A, secret), 3),
      scanned(checkpointToEntity(A, checkpoint), 4),
      scanned({ partitionKey: B, rowKey: "lease", runId: "", owner: "", expiresAt: "1970-01-01T00:00:00.000Z", continuation: 0, released: true, nextRunAt: "2026-02-01T00:00:00.000Z" }, 5),
    ]);
    const a = states.get(A)!;
    expect(a.lease).toEqual({ ...lease, etag: `W/"datetime'1'"` });
    expect(a.health).toEqual(health);
    expect(a.secret).toEqual(secret); // the service's own properties (etag, timestamp, odata.*) are not facts
    expect(a.checkpoint).toEqual(checkpoint);
    expect(states.get(B)).toEqual({ lease: { tenantId: B, runId: "", owner: "", expiresAt: "1970-01-01T00:00:00.000Z", continuation: 0, nextRunAt: "2026-02-01T00:00:00.000Z", released: true, etag: `W/"datetime'5'"` } });
  });

  it("ignores rows of other kinds, and reads an unreadable health or checkpoint row as empty", () => {
    const states = decode([
      scanned({ partitionKey: A, rowKey: "writebudget-0b5d2c1e-1111-4222-8333-944444444444", fullAt: "2026-01-01T00:00:00.000Z" }, 1),
      scanned({ partitionKey: A, rowKey: "checkpoint-dryrun", data: JSON.stringify(checkpoint) }, 2),
    ]);
    expect(states.size).toBe(0);
    const bad = decode([scanned({ partitionKey: B, rowKey: "health", data: "{not json", quarantined: false }, 1), scanned({ partitionKey: B, rowKey: "checkpoint", data: "{" }, 2)]);
    expect(bad.get(B)).toEqual({ health: { tenantId: B, consecutiveFailures: 0, quarantined: false }, checkpoint: undefined });
  });
});
