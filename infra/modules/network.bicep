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

@description('Name of the storage account to reach privately.')
param storageAccountName string

@description('Name of the Key Vault to reach privately.')
param keyVaultName string

@description('Tags applied to every resource.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2026-06-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

// One entry per private endpoint: the sub-resource (group id) of its target (the vault, else the storage account) and the privatelink zone of its host
// name, built from the cloud's own suffixes (core.windows.net and vaultcore.azure.net in the public cloud).
var endpoints = [
  {
    name: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'queue'
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    name: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    name: 'vault'
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  }
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
  for e in endpoints: {
    name: e.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (e, i) in endpoints: {
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
            privateLinkServiceId: e.name == 'vault' ? vault.id : storage.id
            groupIds: [
              e.name
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
          name: e.name
          properties: { privateDnsZoneId: zones[i].id }
        }
      ]
    }
  }
]

@description('Resource id of the subnet the function app integrates with.')
output appSubnetId string = vnet::appSubnet.id
