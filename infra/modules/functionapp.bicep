// The Function App on the Flex Consumption plan (FC1): Linux, Node 22, system-assigned identity, deployment
// package pulled from a blob container with that identity, and app settings that hold only names, URLs and
// schedules. FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_NODE_DEFAULT_VERSION,
// WEBSITE_RUN_FROM_PACKAGE and WEBSITE_CONTENT* are not set: Flex takes the runtime from functionAppConfig and
// rejects those settings. The function timeout lives in host.json (00:30:00, the Flex default; Flex allows more).

@description('Azure region of the plan and the app.')
param location string

@description('Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Name of the function app (also its host name: <name>.azurewebsites.net).')
@minLength(2)
@maxLength(60)
param functionAppName string

@description('Maximum number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of one instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Name of the Functions host\'s storage account (AzureWebJobsStorage: its blobs, the deployment package).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob endpoint of that account (ends with a slash).')
param blobEndpoint string

@description('Queue endpoint of that account.')
param queueEndpoint string

@description('Table endpoint of that account.')
param tableEndpoint string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Name of the Application Insights component the host sends telemetry to.')
param appInsightsName string

@description('URL of the Key Vault holding customers\' client secrets.')
param keyVaultUri string

@description('NCRONTAB of the scheduler timer (SYNC_SCHEDULE).')
param syncSchedule string

@description('NCRONTAB of the daily client secret expiry check (SECRET_CHECK_SCHEDULE).')
param expiryCheckSchedule string

@description('Days before a client secret expires at which to mail (ALERT_THRESHOLDS_DAYS).')
param alertThresholdsDays string

@description('Seconds one worker invocation works before it checkpoints (RUN_TIME_BUDGET_SECONDS).')
param runTimeBudgetSeconds int

@description('Name of the app\'s data storage account (tables and queues; APP_STORAGE).')
param dataStorageAccountName string

@description('Queue endpoint of the data account.')
param dataQueueEndpoint string

@description('Table endpoint of the data account.')
param dataTableEndpoint string

@description('Full reads at once per application data account (MAX_CONCURRENT_FULL_READS).')
param maxConcurrentFullReads int

@description('Public base URL Graph sends change notifications to (NOTIFICATION_URL); empty: none.')
param notificationUrl string

@description('Sender address of alert e-mails (MAIL_FROM).')
param mailFrom string

@description('Operators\' address(es), comma-separated (OPERATOR_EMAIL).')
param operatorEmail string

@description('Communication Services endpoint (ACS_EMAIL_ENDPOINT).')
param acsEndpoint string

@description('Resource id of the user-assigned identity whose token is the federated app\'s client assertion.')
param federationIdentityId string

@description('Client id of that identity; set as MANAGED_IDENTITY_CLIENT_ID only when federatedAppClientId is set.')
param federationIdentityClientId string

@description('Client id of the platform\'s multi-tenant app (FEDERATED_APP_CLIENT_ID); empty: federated tenants are off.')
param federatedAppClientId string

@description('Subnet (delegated to Microsoft.App/environments) the app integrates with; empty for none.')
param virtualNetworkSubnetId string = ''

@description('Tags applied to the plan.')
param tags object = {}

@description('Tags applied to the function app (azd finds the service by its azd-service-name tag).')
param appTags object = {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// The Node worker's V8 options (app setting languageWorkers__node__arguments), from the one file the memory bench
// also reads (bench/common.ts), so that what is measured is what runs: a young generation of 8 MB semi-spaces instead
// of 16 (GC headroom was most of a run's RSS beyond its live heap; 4 MB cost a full read 19 % more CPU for 11 MB less
// RSS, see bench/README.md) and an old-space cap that leaves room for the host's batch of 4 concurrent runs on a
// 2,048 MB instance.
var nodeArguments = loadJsonContent('../node-arguments.json').languageWorkersNodeArguments
@description('Status page: object id of the operators\' Entra group (empty: not set up).')
param statusPageOperatorsGroupId string = ''

@description('Status page: the Key Vault reference of its key (empty: not set up, the page stays closed).')
param statusPageKeyReference string = ''

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: functionAppName
  location: location
  tags: appTags
  kind: 'functionapp,linux'
  // System-assigned: storage, Key Vault, ACS, App Insights. User-assigned: only the federated app's client assertion.
  identity: {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${federationIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // Outbound calls to Storage and the Key Vault go through this subnet to their private endpoints.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    // The SCIM routes (api/scim/v2/...) are anonymous at the Functions level because Entra's provisioning service
    // cannot send a function key: each tenant's SCIM Secret Token (checked by the app) is their only gate. HTTPS only
    // and TLS 1.2, as Entra requires of a SCIM endpoint.
    httpsOnly: true
    clientAffinityEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      remoteDebuggingEnabled: false
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  // No publishing with user names and passwords (FTP or the SCM site): deployments use Entra ID.
  resource ftp 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: { allow: false }
  }

  resource scm 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: { allow: false }
  }

  // Exactly the settings of APP_SETTINGS (src/config/settings.ts) that apply in Azure, plus the host's
  // telemetry settings; test/infra/bicep.test.ts checks this list against APP_SETTINGS.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Identity-based host storage and app data storage, each its own account: no connection string, no key.
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__blobServiceUri: blobEndpoint
      AzureWebJobsStorage__queueServiceUri: queueEndpoint
      AzureWebJobsStorage__tableServiceUri: tableEndpoint
      APP_STORAGE__accountName: dataStorageAccountName
      APP_STORAGE__credential: 'managedidentity'
      APP_STORAGE__queueServiceUri: dataQueueEndpoint
      APP_STORAGE__tableServiceUri: dataTableEndpoint
      KEY_VAULT_URL: keyVaultUri
      PLATFORM_CREDENTIAL: 'managed-identity'
      // Both or neither (the app refuses one without the other): federated tenants need the app's one-time setup first.
      FEDERATED_APP_CLIENT_ID: federatedAppClientId
      MANAGED_IDENTITY_CLIENT_ID: empty(federatedAppClientId) ? '' : federationIdentityClientId
      SYNC_SCHEDULE: syncSchedule
      SECRET_CHECK_SCHEDULE: expiryCheckSchedule
      ALERT_THRESHOLDS_DAYS: alertThresholdsDays
      RUN_TIME_BUDGET_SECONDS: string(runTimeBudgetSeconds)
      MAIL_TRANSPORT: 'acs'
      MAIL_FROM: mailFrom
      OPERATOR_EMAIL: operatorEmail
      ACS_EMAIL_ENDPOINT: acsEndpoint
      PLAN_RETENTION_DAYS: '30'
      HOLD_EXPIRY_HOURS: '72'
      MAX_CONCURRENT_FULL_READS: string(maxConcurrentFullReads)
      AUDIT_RETENTION_DAYS: '180'
      AUDIT_SENSITIVE_ATTRIBUTES: 'ssn,birthDate'
      OPERATOR_ALERT_FAILURES: '3'
      NOTIFICATION_URL: notificationUrl
      NOTIFY_COALESCE_SECONDS: '5'
      NOTIFIED_SYNC_INTERVAL_MINUTES: '60'
      // The status page signs operators in with App Service Authentication (statuspage.bicep).
      STATUS_PAGE_AUTH: 'appservice'
      STATUS_PAGE_OPERATORS_GROUP: statusPageOperatorsGroupId
      STATUS_PAGE_KEY: statusPageKeyReference
      // The connection string carries the component's instrumentation key, which is an identifier, not a
      // credential: with DisableLocalAuth on, App Insights rejects telemetry that has only the key, so the host
      // must also present an Entra token, which the next setting turns on (system-assigned identity).
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
      languageWorkers__node__arguments: nodeArguments
    }
  }
}

@description('Name of the function app.')
output name string = functionApp.name

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName

@description('Object id of the app\'s system-assigned managed identity.')
output principalId string = functionApp.identity.principalId
