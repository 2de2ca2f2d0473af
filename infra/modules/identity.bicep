// The user-assigned managed identity whose token is the client assertion of the platform's multi-tenant app
// (federated tenants: no client secret). Microsoft supports only user-assigned identities as the trusted side of an
// app's federated identity credential. It holds no Azure role: it is a credential of the app, nothing more.

@description('Azure region of the identity.')
param location string

@description('Name of the user-assigned managed identity.')
@minLength(3)
@maxLength(128)
param name string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity (assigned to the function app).')
output id string = identity.id

@description('Client id of the identity (MANAGED_IDENTITY_CLIENT_ID).')
output clientId string = identity.properties.clientId

@description('Object (principal) id of the identity: the subject of the federated identity credential.')
output principalId string = identity.properties.principalId
