// Every role assignment of entra-sync, in one place. All target resources live in the deployment's resource group,
// so one module can scope each assignment to the single resource it concerns (never the resource group).

@description('Object id of the function app\'s system-assigned managed identity.')
@minLength(36)
@maxLength(36)
param appPrincipalId string

@description('Object id of an operator (user, group or service principal) who runs the entra-sync CLI with `az login`; empty for none.')
@maxLength(36)
param operatorPrincipalId string = ''

@description('Kind of principal operatorPrincipalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Name of the Functions host\'s storage account (AzureWebJobsStorage).')
param storageAccountName string

@description('Name of the app\'s data storage account (APP_STORAGE: tables and queues).')
param dataStorageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Name of the Communication Service the app sends e-mail through.')
param communicationServiceName string

// Built-in role definition ids (the same in every tenant and cloud).
var roles = {
  // Host blobs (leases, keys) and the Flex deployment package container.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Read, process and delete messages (queue trigger: the docs list Queue Data Reader + Queue Data Message
  // Processor) and add messages (continuations, queue output): Contributor is the one role that holds both.
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Tenants, runs, tenant state, connector space, platform directory, alerts.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Read customers' client secrets and their metadata (expiry); no write.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Operators: store and rotate customers' client secrets.
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  // Send telemetry to an Application Insights component whose local (key) auth is off.
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var withOperator = !empty(operatorPrincipalId)

// ACS Email has no built-in data-plane role: sending with an Entra token is authorised against these control-plane
// actions on the Communication Service (Microsoft's documented custom role for sending with an Entra identity).
// The built-in alternative, Communication and Email Service Owner, holds every Communication action, key listing
// and deletion included.
var mailSendActions = [
  'Microsoft.Communication/CommunicationServices/Read'
  'Microsoft.Communication/CommunicationServices/Write'
  'Microsoft.Communication/EmailServices/write'
]

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: dataStorageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource communicationService 'Microsoft.Communication/communicationServices@2026-03-18' existing = {
  name: communicationServiceName
}

// Custom role definitions are tenant-wide: the name and the GUID carry the resource group so that two deployments
// never collide, and the role can be assigned in this resource group only.
resource mailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'entra-sync-mail-sender')
  properties: {
    roleName: 'entra-sync mail sender (${uniqueString(resourceGroup().id)})'
    description: 'Send e-mail through Azure Communication Services with an Entra token; nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: mailSendActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// --- the app's managed identity ---

resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, appPrincipalId, roles.storageQueueDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, appPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appMail 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationService.id, appPrincipalId, mailSenderRole.name)
  scope: communicationService
  properties: {
    // The subscription-level form of the id, as Azure lists custom roles.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', mailSenderRole.name)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- an operator running the CLI (`entra-sync tenant add`, `secret set`, `run`) with `az login` ---

resource operatorSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withOperator) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withOperator) {
  name: guid(dataStorage.id, operatorPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withOperator) {
  name: guid(dataStorage.id, operatorPrincipalId, roles.storageQueueDataContributor)
  scope: dataStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
