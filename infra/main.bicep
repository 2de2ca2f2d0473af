// entra-sync: one resource group holding a Flex Consumption function app with a system-assigned identity, its
// storage (host, tables, queues; no shared keys), a Key Vault for customers' client secrets (RBAC), Application
// Insights on Log Analytics (Entra-only ingestion) and ACS Email (Azure-managed domain). Every access is an Entra
// role assignment on one resource (modules/rbac.bicep); no key, secret or connection string with a credential
// is created, stored or output. With networkIsolation, Storage and the vault are reachable only through private
// endpoints in a virtual network the app is integrated with (modules/network.bicep) and from allowedIpRanges.
// Deploy guide: docs/deploy.md.
targetScope = 'resourceGroup'

@description('Prefix of every resource name: 3-11 lower-case letters and digits, starting with a letter.')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region of the resources (one where Flex Consumption is offered).')
@minLength(1)
param location string = resourceGroup().location

@description('NCRONTAB (six fields) of the scheduler timer that enqueues due tenants.')
@minLength(11)
param syncSchedule string = '0 */5 * * * *'

@description('NCRONTAB (six fields) of the daily client secret expiry check.')
@minLength(11)
param expiryCheckSchedule string = '0 0 6 * * *'

@description('Comma-separated days before a client secret expires at which its tenant\'s admins are mailed.')
@minLength(1)
@maxLength(100)
param alertThresholdsDays string = '60,30,14,7,3,1,0'

@description('Seconds one worker invocation works before it checkpoints and re-enqueues; keep well below host.json functionTimeout (00:30:00 = 1800 s).')
@minValue(10)
@maxValue(1500)
param runTimeBudgetSeconds int = 480

@description('Runs that may read a tenant in full (an initial delta round) at once against the application data account (MAX_CONCURRENT_FULL_READS); see the README\'s storage model.')
@minValue(1)
@maxValue(1000)
param maxConcurrentFullReads int = 8

@description('The platform operators\' e-mail address(es), comma-separated, copied on every alert.')
@minLength(3)
@maxLength(512)
param operatorEmail string

@description('Object id of an operator (user, group or service principal) allowed to run the entra-sync CLI against this deployment with `az login`; empty for none.')
@maxLength(36)
param operatorPrincipalId string = ''

@description('Kind of principal operatorPrincipalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSku string = 'Standard_LRS'

@description('Maximum number of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of one Flex Consumption instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Geography where Azure Communication Services keeps its data.')
@allowed([
  'Africa'
  'Asia Pacific'
  'Australia'
  'Brazil'
  'Canada'
  'Europe'
  'France'
  'Germany'
  'India'
  'Japan'
  'Korea'
  'Norway'
  'Switzerland'
  'UAE'
  'UK'
  'United States'
])
param emailDataLocation string = 'Europe'

@description('Display name of the sender of alert e-mails.')
@minLength(1)
@maxLength(64)
param mailSenderDisplayName string = 'entra-sync'

@description('Reach Storage and the Key Vault only from a virtual network: VNet integration of the app, private endpoints, public network access off. Operators then run the CLI from inside the network or from allowedIpRanges.')
param networkIsolation bool = false

@description('With networkIsolation: public IPv4 addresses or CIDR ranges (e.g. the operators\' office) still allowed to reach Storage and the Key Vault; single addresses without /32.')
param allowedIpRanges string[] = []

@description('With networkIsolation: address space of the virtual network, /24 or larger; pick one that does not overlap networks you may peer with.')
param vnetAddressPrefix string = '10.90.0.0/24'

@description('Appended to the Key Vault\'s name (letters and digits). A deleted vault keeps its name for the soft-delete retention and purge protection forbids purging it: set a new suffix to redeploy where one was removed.')
@maxLength(4)
param keyVaultNameSuffix string = ''

@description('Application (client) id of the platform\'s multi-tenant app whose federated credential trusts the deployment\'s user-assigned identity (the one-time setup in docs/deploy.md); empty until then: federated tenants are off.')
@maxLength(36)
param federatedAppClientId string = ''

@description('Tags applied to every resource (azd passes azd-env-name).')
param tags object = {}

@description('Status page: client id of the Entra app registration operators sign in with (App Service Authentication). Empty: no sign-in is set up and the page stays closed.')
param statusPageClientId string = ''

@description('Status page: object id of the Entra group whose members may use it (required with statusPageClientId).')
param operatorsGroupId string = ''

@description('Status page: the key its confirmation tokens are signed with; a new random one per deployment unless given.')
@secure()
param statusPageKey string = '${newGuid()}${newGuid()}'

var token = uniqueString(resourceGroup().id)
var prefix = toLower(namePrefix)
var names = {
  storage: take('${prefix}${token}', 24)
  // The app's tables and queues, in an account of their own (apart from the host's AzureWebJobsStorage).
  dataStorage: take('${prefix}data${token}', 24)
  // Without a suffix, the name of every earlier deployment (renaming a vault would replace it).
  keyVault: take('${take('${prefix}kv${token}', 24 - length(keyVaultNameSuffix))}${toLower(keyVaultNameSuffix)}', 24)
  logAnalytics: '${prefix}-log-${token}'
  appInsights: '${prefix}-appi-${token}'
  plan: '${prefix}-plan-${token}'
  functionApp: '${prefix}-func-${token}'
  emailService: '${prefix}-email-${token}'
  communicationService: '${prefix}-acs-${token}'
  deploymentContainer: 'app-package-${take(token, 7)}'
  virtualNetwork: '${prefix}-vnet-${token}'
  federationIdentity: '${prefix}-fed-id-${token}'
}

// The audience a managed identity's token for a federated credential carries, per cloud (Microsoft's "Configure an
// application to trust a managed identity").
var tokenExchangeAudiences = {
  AzureCloud: 'api://AzureADTokenExchange'
  AzureUSGovernment: 'api://AzureADTokenExchangeUSGov'
  AzureChinaCloud: 'api://AzureADTokenExchangeChina'
}

// Exactly TABLES and QUEUES of src/state/tables.ts (checked by test/infra/bicep.test.ts).
var tableNames = [
  'tenants'
  'runs'
  'tenantstate'
  'connectorspace'
  'platformusers'
  'alerts'
  'runplans'
  'scimtokens'
  'scimaudit'
  'scimgroups'
  'scimsettings'
]
var queueNames = [
  'sync-jobs'
  'sync-jobs-poison'
]

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    tags: tags
  }
}

// The Functions host's account (AzureWebJobsStorage): its own blobs and the deployment package.
module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: names.storage
    skuName: storageSku
    deploymentContainerName: names.deploymentContainer
    networkIsolation: networkIsolation
    allowedIpRanges: allowedIpRanges
    tags: tags
  }
}

// The app's data (APP_STORAGE): every table and queue, with an account's scalability targets to itself.
module dataStorage 'modules/storage.bicep' = {
  name: 'dataStorage'
  params: {
    location: location
    storageAccountName: names.dataStorage
    skuName: storageSku
    queueNames: queueNames
    tableNames: tableNames
    networkIsolation: networkIsolation
    allowedIpRanges: allowedIpRanges
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    keyVaultName: names.keyVault
    networkIsolation: networkIsolation
    allowedIpRanges: allowedIpRanges
    tags: tags
  }
}

module network 'modules/network.bicep' = if (networkIsolation) {
  name: 'network'
  params: {
    location: location
    virtualNetworkName: names.virtualNetwork
    addressPrefix: vnetAddressPrefix
    storageAccountName: storage.outputs.name
    dataStorageAccountName: dataStorage.outputs.name
    keyVaultName: keyVault.outputs.name
    tags: tags
  }
}

module email 'modules/email.bicep' = {
  name: 'email'
  params: {
    emailServiceName: names.emailService
    communicationServiceName: names.communicationService
    dataLocation: emailDataLocation
    senderDisplayName: mailSenderDisplayName
    tags: tags
  }
}

module federationIdentity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    name: names.federationIdentity
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    planName: names.plan
    functionAppName: names.functionApp
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    dataStorageAccountName: dataStorage.outputs.name
    dataQueueEndpoint: dataStorage.outputs.queueEndpoint
    dataTableEndpoint: dataStorage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: names.appInsights
    keyVaultUri: keyVault.outputs.uri
    syncSchedule: syncSchedule
    expiryCheckSchedule: expiryCheckSchedule
    alertThresholdsDays: alertThresholdsDays
    runTimeBudgetSeconds: runTimeBudgetSeconds
    maxConcurrentFullReads: maxConcurrentFullReads
    mailFrom: email.outputs.mailFrom
    operatorEmail: operatorEmail
    acsEndpoint: email.outputs.endpoint
    virtualNetworkSubnetId: networkIsolation ? network!.outputs.appSubnetId : ''
    statusPageOperatorsGroupId: operatorsGroupId
    // A reference the platform resolves with the app's identity (statuspage.bicep stores the secret).
    statusPageKeyReference: empty(statusPageClientId) ? '' : '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=status-page-key)'
    federationIdentityId: federationIdentity.outputs.id
    federationIdentityClientId: federationIdentity.outputs.clientId
    federatedAppClientId: federatedAppClientId
    tags: tags
    appTags: union(tags, { 'azd-service-name': 'api' })
  }
  // The app reads the component by name (its connection string is not passed through outputs).
  dependsOn: [
    monitoring
  ]
}

module statusPage 'modules/statuspage.bicep' = if (!empty(statusPageClientId)) {
  name: 'statuspage'
  params: {
    functionAppName: functionApp.outputs.name
    keyVaultName: keyVault.outputs.name
    signInClientId: statusPageClientId
    operatorsGroupId: operatorsGroupId
    statusPageKey: statusPageKey
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    storageAccountName: names.storage
    dataStorageAccountName: names.dataStorage
    keyVaultName: names.keyVault
    appInsightsName: names.appInsights
    communicationServiceName: names.communicationService
  }
  // Names are passed as known values. The scoped resources exist by then: this module waits for functionApp
  // (its principal id), which waits for every other module.
}

@description('Name of the function app.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Base URL of the function app (the HTTP API is under /api).')
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'

@description('URL of the Key Vault holding customers\' client secrets (KEY_VAULT_URL for the CLI).')
output KEY_VAULT_URL string = keyVault.outputs.uri

@description('Object id of the function app\'s managed identity.')
output FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId

@description('Name of the Functions host\'s storage account (AzureWebJobsStorage).')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('Name of the app\'s data storage account (APP_STORAGE__accountName for the CLI).')
output APP_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name

@description('Communication Services endpoint the app sends e-mail through.')
output ACS_EMAIL_ENDPOINT string = email.outputs.endpoint

@description('Sender address of alert e-mails.')
output MAIL_FROM string = email.outputs.mailFrom

@description('Issuer of the federated identity credential on the platform\'s multi-tenant app: this tenant\'s authority.')
output FEDERATION_ISSUER string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

@description('Subject of that credential: the object (principal) id of the user-assigned identity.')
output FEDERATION_SUBJECT string = federationIdentity.outputs.principalId

@description('Audience of that credential in this cloud.')
output FEDERATION_AUDIENCE string = tokenExchangeAudiences[?environment().name] ?? tokenExchangeAudiences.AzureCloud

@description('Client id of the user-assigned identity (MANAGED_IDENTITY_CLIENT_ID).')
output MANAGED_IDENTITY_CLIENT_ID string = federationIdentity.outputs.clientId
