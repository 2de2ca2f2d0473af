// One storage account, used twice: the Functions host's (the Flex deployment container, the host's own blobs) and
// the app's data (the sync-jobs queues and every table of src/state/tables.ts), so that the app's table and queue
// traffic has an account's scalability targets to itself. Shared keys are off: everything reaches it with an
// Entra identity (the app's managed identity, operators' `az login`). With networkIsolation the account takes
// traffic only through its private endpoints (modules/network.bicep) and from allowedIpRanges.

@description('Azure region of the account.')
param location string

@description('Name of the storage account (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Replication of the account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

@description('Blob container that holds the Flex Consumption deployment package (the host\'s account); empty for none.')
@maxLength(63)
param deploymentContainerName string = ''

@description('Storage queues the app uses (QUEUES of src/state/tables.ts; the data account).')
param queueNames string[] = []

@description('Tables the app uses (TABLES of src/state/tables.ts; the data account).')
param tableNames string[] = []

@description('Whether the account is reachable only through its private endpoints (and from allowedIpRanges).')
param networkIsolation bool = false

@description('Public IPv4 addresses or CIDR ranges still allowed in when networkIsolation is on (single addresses without /32).')
param allowedIpRanges string[] = []

@description('Tags applied to every resource.')
param tags object = {}

// Isolated: no trusted-service bypass, and no public endpoint at all unless an address range is let in.
var networkAcls = networkIsolation
  ? {
      defaultAction: 'Deny'
      bypass: 'None'
      ipRules: map(allowedIpRanges, range => { value: range, action: 'Allow' })
      virtualNetworkRules: []
    }
  : { defaultAction: 'Allow', bypass: 'AzureServices' }

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: networkIsolation && empty(allowedIpRanges) ? 'Disabled' : 'Enabled'
    networkAcls: networkAcls
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = if (!empty(deploymentContainerName)) {
      name: deploymentContainerName
      properties: { publicAccess: 'None' }
    }
  }

  resource queueService 'queueServices' = {
    name: 'default'

    resource queue 'queues' = [for name in queueNames: {
      name: name
    }]
  }

  resource tableService 'tableServices' = {
    name: 'default'

    resource table 'tables' = [for name in tableNames: {
      name: name
    }]
  }
}

@description('Name of the storage account.')
output name string = storage.name

@description('Blob endpoint, e.g. https://<account>.blob.core.windows.net/.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Queue endpoint.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('Table endpoint.')
output tableEndpoint string = storage.properties.primaryEndpoints.table

@description('Name of the deployment package container.')
output deploymentContainerName string = deploymentContainerName
