// The status page's access: App Service Authentication (Entra ID) in front of the function app, restricted to the
// operators' group, and the key the page signs its confirmation tokens with, kept in Key Vault.
//
// The page's routes are anonymous at the Functions level: App Service Authentication signs the operator in and passes
// the signed-in user to the app as X-MS-CLIENT-PRINCIPAL* headers (stripping any a client sends); the app refuses
// requests without them and checks the groups claim itself too (STATUS_PAGE_OPERATORS_GROUP). Unauthenticated
// requests are let through (AllowAnonymous) so that the run API (function keys) and SCIM (Secret Tokens) keep their
// own gates; the page answers them with a redirect to /.auth/login/aad.

@description('Name of the function app.')
@minLength(2)
@maxLength(60)
param functionAppName string

@description('Name of the Key Vault that holds the status page key.')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Client (application) id of the Entra app registration the operators sign in with (ID tokens enabled, groupMembershipClaims SecurityGroup, redirect URI https://<app>/.auth/login/aad/callback).')
@minLength(36)
@maxLength(36)
param signInClientId string

@description('Object id of the Entra group whose members may use the status page.')
@minLength(36)
@maxLength(36)
param operatorsGroupId string

@description('The status page key (at least 32 random characters); main.bicep makes a new one per deployment.')
@secure()
@minLength(32)
param statusPageKey string

@description('Entra tenant the operators sign in to.')
@minLength(36)
@maxLength(36)
param tenantId string = subscription().tenantId

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

// The app reads it as a Key Vault reference (STATUS_PAGE_KEY), with its own identity (Key Vault Secrets User).
resource key 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  parent: vault
  name: 'status-page-key'
  properties: {
    value: statusPageKey
    contentType: 'entra-sync status page key'
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' existing = {
  name: functionAppName
}

resource auth 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
          clientId: signInClientId
        }
        validation: {
          allowedAudiences: [
            signInClientId
            'api://${signInClientId}'
          ]
          // Only members of the operators' group get past App Service Authentication.
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: [
                operatorsGroupId
              ]
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

@description('The Key Vault reference the app setting STATUS_PAGE_KEY holds.')
output keyReference string = '@Microsoft.KeyVault(SecretUri=${key.properties.secretUri})'
