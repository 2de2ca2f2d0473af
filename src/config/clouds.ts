/**
 * The Entra clouds a tenant can live in, with their token and Graph hosts (Microsoft's national cloud endpoints) and
 * the Microsoft Entra admin center a customer's admin signs in to (the three hosts Microsoft's Entra FAQ lists; DoD
 * shares US Government's, as it shares its sign-in host).
 */
export const CLOUDS = {
  global: { authorityHost: "https://login.microsoftonline.com", graphBaseUrl: "https://graph.microsoft.com", adminCenter: "https://entra.microsoft.com", tokenExchangeAudience: "api://AzureADTokenExchange" },
  usgov: { authorityHost: "https://login.microsoftonline.us", graphBaseUrl: "https://graph.microsoft.us", adminCenter: "https://entra.microsoft.us", tokenExchangeAudience: "api://AzureADTokenExchangeUSGov" },
  usgovdod: { authorityHost: "https://login.microsoftonline.us", graphBaseUrl: "https://dod-graph.microsoft.us", adminCenter: "https://entra.microsoft.us", tokenExchangeAudience: "api://AzureADTokenExchangeUSGov" },
  china: { authorityHost: "https://login.partner.microsoftonline.cn", graphBaseUrl: "https://microsoftgraph.chinacloudapi.cn", adminCenter: "https://entra.microsoftonline.cn", tokenExchangeAudience: "api://AzureADTokenExchangeChina" },
} as const;
// tokenExchangeAudience: the audience of the managed identity's token that a federated identity credential trusts in
// that cloud (Microsoft's "Configure an application to trust a managed identity").

/** The app registration's Certificates & secrets page in the Entra admin center of the app's cloud. */
export function appCredentialsPageUrl(cloud: CloudName, clientId: string): string {
  return `${CLOUDS[cloud].adminCenter}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/${encodeURIComponent(clientId)}/isMSAApp~/false`;
}

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
