// The private network of a deployment with networkIsolation on: a virtual network with one subnet the Flex
// Consumption app integrates with (delegated to Microsoft.App/environments, as Flex requires) and one for private
// endpoints; a private endpoint for each service the app reaches in Storage (blob, queue, table) and for the Key
// Vault; and the privatelink DNS zones, linked to the network, that make the services' usual host names resolve
// to those endpoints inside it. Application Insights and Communication Services stay on their public endpoints
// (Entra-only, local auth off).

@description('Azure region of the network and the private endpoints.')
param location string

@description('Name of the virtual network (also the prefix of the private endpoints\' names).')
@minLength(2)
@maxLength(60)
param virtualNetworkName string

@description('Address space of the virtual network (a /24 or larger): its first /25 holds the app\'s subnet, the next /27 the private endpoints.')
param addressPrefix string

@description('Name of the Functions host\'s storage account to reach privately (blob, queue, table).')
param storageAccountName string

@description('Name of the app\'s data storage account to reach privately (queue, table).')
param dataStorageAccountName string

@description('Name of the Key Vault to reach privately.')
param keyVaultName string

@description('Tags applied to every resource.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: dataStorageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

// One privatelink DNS zone per service, its name built from the cloud's own suffixes (core.windows.net and
// vaultcore.azure.net in the public cloud).
var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  vault: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
}
var services = [
  'blob'
  'queue'
  'table'
  'vault'
]

// One entry per private endpoint: its name, the sub-resource (group id) of its target and the target (the host's
// account, the data account or the vault). The data account's endpoints share the zones of the host's.
var endpoints = [
  { name: 'blob', groupId: 'blob', target: 'host' }
  { name: 'queue', groupId: 'queue', target: 'host' }
  { name: 'table', groupId: 'table', target: 'host' }
  { name: 'data-queue', groupId: 'queue', target: 'data' }
  { name: 'data-table', groupId: 'table', target: 'data' }
  { name: 'vault', groupId: 'vault', target: 'vault' }
]

resource vnet 'Microsoft.Network/virtualNetworks@2026-03-01' = {
  name: virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 25, 0)
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 27, 4)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: 'app'
  }

  resource endpointSubnet 'subnets' existing = {
    name: 'private-endpoints'
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for z in services: {
    name: zoneNames[z]
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (z, i) in services: {
    parent: zones[i]
    name: virtualNetworkName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: vnet.id }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2026-03-01' = [
  for e in endpoints: {
    name: '${virtualNetworkName}-pe-${e.name}'
    location: location
    tags: tags
    properties: {
      subnet: { id: vnet::endpointSubnet.id }
      privateLinkServiceConnections: [
        {
          name: e.name
          properties: {
            privateLinkServiceId: e.target == 'vault' ? vault.id : e.target == 'data' ? dataStorage.id : storage.id
            groupIds: [
              e.groupId
            ]
          }
        }
      ]
    }
  }
]

// Registers each endpoint's address in its zone (an A record for the service's host name).
resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2026-03-01' = [
  for (e, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.groupId
          properties: { privateDnsZoneId: zones[indexOf(services, e.groupId)].id }
        }
      ]
    }
  }
]

@description('Resource id of the subnet the function app integrates with.')
output appSubnetId string = vnet::appSubnet.id
