/** The Entra clouds a tenant can live in, with their token and Graph hosts (Microsoft's national cloud endpoints). */
export const CLOUDS = {
  global: { authorityHost: "https://login.microsoftonline.com", graphBaseUrl: "https://graph.microsoft.com", tokenExchangeAudience: "api://AzureADTokenExchange" },
  usgov: { authorityHost: "https://login.microsoftonline.us", graphBaseUrl: "https://graph.microsoft.us", tokenExchangeAudience: "api://AzureADTokenExchangeUSGov" },
  usgovdod: { authorityHost: "https://login.microsoftonline.us", graphBaseUrl: "https://dod-graph.microsoft.us", tokenExchangeAudience: "api://AzureADTokenExchangeUSGov" },
  china: { authorityHost: "https://login.partner.microsoftonline.cn", graphBaseUrl: "https://microsoftgraph.chinacloudapi.cn", tokenExchangeAudience: "api://AzureADTokenExchangeChina" },
} as const;
// tokenExchangeAudience: the audience of the managed identity's token that a federated identity credential trusts in
// that cloud (Microsoft's "Configure an application to trust a managed identity").

export type CloudName = keyof typeof CLOUDS;
export const CLOUD_NAMES = Object.keys(CLOUDS) as CloudName[];

export interface CloudEndpoints {
  authorityHost: string;
  graphBaseUrl: string;
  /** True when a host was overridden (local stack): MSAL must then skip instance discovery. */
  custom: boolean;
}

/** The hosts for a tenant's cloud, with the process-wide overrides applied. */
export function endpointsFor(cloud: CloudName, overrides: { entraAuthorityHost?: string | undefined; graphBaseUrl?: string | undefined }): CloudEndpoints {
  const base = CLOUDS[cloud];
  const authorityHost = (overrides.entraAuthorityHost ?? base.authorityHost).replace(/\/+$/, "");
  const graphBaseUrl = (overrides.graphBaseUrl ?? base.graphBaseUrl).replace(/\/+$/, "");
  return { authorityHost, graphBaseUrl, custom: authorityHost !== base.authorityHost || graphBaseUrl !== base.graphBaseUrl };
}
