import { Agent } from "undici";

const agents = new Map<string, Agent>();

/**
 * Fetch options that trust an extra CA (PEM), the local simulator's: global `fetch` takes trust per request through
 * an undici dispatcher. One pooled agent per certificate.
 */
export function trusting(ca: string | undefined): RequestInit {
  if (!ca) return {};
  let a = agents.get(ca);
  if (!a) {
    a = new Agent({ connect: { ca }, connections: 64 });
    agents.set(ca, a);
  }
  return { dispatcher: a } as unknown as RequestInit;
}
