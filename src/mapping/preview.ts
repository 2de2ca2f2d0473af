/**
 * Mapping preview (`entra-sync mapping preview`): the platform values a proposed mapping gives for a sample of the
 * tenant's users, beside today's mapping and the platform user's current value. Reads only: the connector space (the
 * Entra users as the last run saw them; no Graph call) and the matched platform users.
 */
import type { ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory } from "../directory/directory.js";
import { EntraSyncError } from "../errors.js";
import { settledUser } from "../immutable-id/planner.js";
import type { Tenant } from "../tenants/model.js";
import { validateTenant } from "../tenants/model.js";
import type { TenantRegistry } from "../tenants/registry.js";
import { explainMapping, type MappingConfig } from "./mapping.js";

/** The attributes a mapping decides (the others come from fixed Entra properties). */
const CONFIGURABLE = ["userName", "email", "idpIdentifier", "eppn", "ssn"] as const;

export interface MappingPreviewDeps {
  tenants: Pick<TenantRegistry, "require">;
  connector: Pick<ConnectorSpace, "list">;
  directory: Pick<PlatformDirectory, "get">;
  clock: () => Date;
}

export interface PreviewedAttribute {
  attribute: string;
  /** The platform user's value now (undefined: no matched platform user). */
  platform?: string | null | undefined;
  today: string | null;
  todaySource: string | null;
  proposed: string | null;
  proposedSource: string | null;
  changed: boolean;
}

export interface MappingPreview {
  tenantId: string;
  today: MappingConfig;
  proposed: MappingConfig;
  /** Users looked at (live users of the connector space). */
  sampled: number;
  /** Per attribute, how many sampled users would get another value. */
  changes: Record<string, number>;
  users: Array<{ entraId: string; userPrincipalName: string | null; platformUserId: string | null; attributes: PreviewedAttribute[] }>;
  notes: string[];
}

/** The SSN is sensitive: the preview says whether it is set and its last two characters, never the value. */
const shown = (attribute: string, v: string | null | undefined): string | null | undefined => (attribute === "ssn" && v ? `set (…${v.slice(-2)})` : v);

export async function previewMapping(deps: MappingPreviewDeps, tenantId: string, o: { mapping?: unknown; sample?: number }): Promise<MappingPreview> {
  const tenant: Tenant = await deps.tenants.require(tenantId);
  const sample = o.sample ?? 10;
  if (!Number.isInteger(sample) || sample < 1 || sample > 1000) throw new EntraSyncError("INPUT_INVALID", `--sample must be a whole number from 1 to 1000, got ${JSON.stringify(o.sample)}.`, { field: "sample" });
  // The proposed mapping as `tenant update --mapping` would store it: merged with today's, validated the same way.
  const proposed = o.mapping === undefined ? tenant.mapping : validateTenant({ mapping: o.mapping }, deps.clock(), tenant).mapping;
  const out: MappingPreview = { tenantId: tenant.tenantId, today: tenant.mapping, proposed, sampled: 0, changes: {}, users: [], notes: [] };
  for await (const row of deps.connector.list(tenant.tenantId)) {
    if (row.removed) continue;
    const user = settledUser(row);
    const today = new Map(explainMapping(user, tenant.mapping).map((m) => [m.attribute, m]));
    const next = new Map(explainMapping(user, proposed).map((m) => [m.attribute, m]));
    const platform = row.match === "matched" && row.platformUserId ? await deps.directory.get(tenant.tenantId, row.platformUserId) : undefined;
    const attributes: PreviewedAttribute[] = [];
    for (const attribute of CONFIGURABLE) {
      const a = today.get(attribute);
      const b = next.get(attribute);
      if (!a && !b) continue;
      const changed = (a?.value ?? null) !== (b?.value ?? null);
      if (changed) out.changes[attribute] = (out.changes[attribute] ?? 0) + 1;
      attributes.push({
        attribute,
        ...(platform ? { platform: shown(attribute, platform[attribute] ?? null) } : {}),
        today: shown(attribute, a?.value ?? null) ?? null,
        todaySource: a?.source ?? null,
        proposed: shown(attribute, b?.value ?? null) ?? null,
        proposedSource: b?.source ?? null,
        changed,
      });
    }
    out.users.push({ entraId: row.id, userPrincipalName: user.userPrincipalName ?? null, platformUserId: platform?.id ?? null, attributes });
    if (++out.sampled >= sample) break;
  }
  if (out.sampled === 0) out.notes.push(`No Entra user of tenant ${tenant.tenantId} is known yet: run it once (entra-sync run --tenant ${tenant.tenantId}), then preview.`);
  if (proposed.birthDate !== tenant.mapping.birthDate) out.notes.push(`birthDate ${proposed.birthDate ? "on" : "off"}: Graph serves birthday per user only, so the preview does not read it; ${proposed.birthDate ? "each run then costs one more request per changed user" : "runs stop reading it"}.`);
  if (o.mapping !== undefined) out.notes.push(`Apply it with: entra-sync tenant update ${tenant.tenantId} --mapping '${JSON.stringify(o.mapping)}' (the next run then reads every user by itself).`);
  return out;
}
