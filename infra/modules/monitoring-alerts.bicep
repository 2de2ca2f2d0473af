// Alerts for the operators: one action group that e-mails them, and alert rules for what needs a person. Log alerts
// read the Application Insights tables the Functions host fills: `requests` (one row per function invocation, with
// its success) and `traces` (every log line; the app writes `entra-sync.run {…}`, `entra-sync.health {…}` and
// `entra-sync.quarantined {…}` lines with JSON after the name). Storage 403s come from the accounts' own metrics.

@description('Azure region of the log alert rules.')
param location string

@description('Resource id of the Application Insights component the log alerts query.')
@minLength(1)
param appInsightsId string

@description('Storage accounts whose 403 answers raise an alert (the host\'s and the app\'s data account): name and resource id.')
@minLength(1)
param storageAccounts { name: string, id: string }[]

@description('Name of the action group.')
@minLength(1)
@maxLength(260)
param actionGroupName string

@description('Short name of the action group (at most 12 characters; shown in the mails).')
@minLength(1)
@maxLength(12)
param actionGroupShortName string

@description('Operators\' address(es), comma-separated: the action group mails each.')
@minLength(3)
param operatorEmail string

@description('Prefix of the alert rule names.')
@minLength(1)
@maxLength(40)
param namePrefix string

@description('Tags applied to every resource.')
param tags object = {}

var emails = filter(map(split(operatorEmail, ','), e => trim(e)), e => !empty(e))

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    emailReceivers: [
      for (e, i) in emails: {
        name: 'operator-${i}'
        emailAddress: e
        useCommonAlertSchema: true
      }
    ]
  }
}

// name, severity (0 critical … 4 verbose), query, operator and threshold on the row count, window, how often.
var logAlerts = [
  {
    name: 'function-failures'
    description: 'A function invocation failed (any trigger): see the failures blade of Application Insights.'
    severity: 2
    query: 'requests | where success == false'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    frequency: 'PT5M'
  }
  {
    name: 'poison-queue-messages'
    description: 'A sync job failed five times and reached sync-jobs-poison: its run ended failed (RUN_POISONED).'
    severity: 1
    query: 'requests | where name == "syncWorkerPoison"'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    frequency: 'PT5M'
  }
  {
    name: 'tenant-quarantined'
    description: 'A tenant was quarantined after failing runs in a row: its scheduled runs stopped (the operators get a mail from the app too).'
    severity: 2
    query: 'traces | where message startswith "entra-sync.quarantined "'
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    frequency: 'PT5M'
  }
  {
    name: 'scheduler-silent'
    description: 'No successful scheduler tick for 30 minutes: no tenant is being synced on schedule.'
    severity: 1
    query: 'requests | where name == "scheduler" and success == true'
    operator: 'LessThan'
    threshold: 1
    window: 'PT30M'
    frequency: 'PT5M'
  }
]

resource logRules 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [
  for a in logAlerts: {
    name: '${namePrefix}-${a.name}'
    location: location
    tags: tags
    properties: {
      displayName: '${namePrefix}: ${a.name}'
      description: a.description
      severity: a.severity
      enabled: true
      scopes: [appInsightsId]
      evaluationFrequency: a.frequency
      windowSize: a.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: a.query
            timeAggregation: 'Count'
            operator: a.operator
            threshold: a.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: [actionGroup.id]
      }
    }
  }
]

// 403 answers of a storage account: the app's identity lost a role, or a network rule shuts it out.
resource storage403 'Microsoft.Insights/metricAlerts@2026-01-01' = [
  for account in storageAccounts: {
    name: '${namePrefix}-storage-403-${account.name}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Storage account ${account.name} refused requests with 403 (authorization or authentication errors): check the app\'s role assignments and the account\'s network rules.'
      severity: 1
      enabled: true
      scopes: [account.id]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'forbidden'
            metricNamespace: 'Microsoft.Storage/storageAccounts'
            metricName: 'Transactions'
            dimensions: [
              {
                name: 'ResponseType'
                operator: 'Include'
                values: ['AuthorizationError', 'AuthenticationError']
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

@description('Resource id of the operators\' action group.')
output actionGroupId string = actionGroup.id

@description('Names of the alert rules.')
output alertRuleNames string[] = concat(map(logAlerts, a => '${namePrefix}-${a.name}'), map(storageAccounts, a => '${namePrefix}-storage-403-${a.name}'))
