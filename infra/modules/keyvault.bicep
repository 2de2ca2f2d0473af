// The vault that holds customers' client secrets. Access is by Azure RBAC only (no access policies); purge
// protection keeps a deleted secret recoverable for the retention period, even from an owner. With networkIsolation
// the vault takes traffic only through its private endpoint (modules/network.bicep) and from allowedIpRanges.

@description('Azure region of the vault.')
param location string

@description('Name of the vault (3-24 letters, digits and hyphens, starting with a letter).')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Days a deleted vault or secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Whether the vault is reachable only through its private endpoint (and from allowedIpRanges).')
param networkIsolation bool = false

@description('Public IPv4 addresses or CIDR ranges still allowed in when networkIsolation is on.')
param allowedIpRanges string[] = []

@description('Tags applied to every resource.')
param tags object = {}

// Isolated: no trusted-service bypass, and no public endpoint at all unless an address range is let in
// (publicNetworkAccess Disabled would override the IP rules).
var networkAcls = networkIsolation
  ? {
      defaultAction: 'Deny'
      bypass: 'None'
      ipRules: map(allowedIpRanges, range => { value: range })
      virtualNetworkRules: []
    }
  : { defaultAction: 'Allow', bypass: 'AzureServices' }

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: networkIsolation && empty(allowedIpRanges) ? 'Disabled' : 'Enabled'
    networkAcls: networkAcls
  }
}

@description('Name of the vault.')
output name string = vault.name

@description('URL of the vault, e.g. https://<name>.vault.azure.net/.')
output uri string = vault.properties.vaultUri
