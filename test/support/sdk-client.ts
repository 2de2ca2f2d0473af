import type { Client } from "@microsoft/microsoft-graph-client";
import { SdkTenantGraph } from "../../src/graph/sdk-graph.js";
import type { TenantGraph } from "../../src/graph/tenant-graph.js";

/** The Graph SDK client under a tenant's graph, for tests of the client's middleware and raw Graph answers. */
export function sdkClientOf(graph: TenantGraph): Client {
  if (!(graph instanceof SdkTenantGraph)) throw new Error("sdkClientOf: not the SDK adapter");
  return graph.client;
}
