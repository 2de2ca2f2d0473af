// Azure Communication Services Email: an Email Communication Service with an Azure-managed domain
// (<guid>.azurecomm.net, no DNS to verify), and a Communication Service linked to it that the app sends through
// with its managed identity (role in rbac.bicep). Local (access key) auth is off: a connection string or key
// is refused, so an Entra token with the send role is the only way to send.

@description('Name of the Email Communication Service.')
@minLength(1)
@maxLength(63)
param emailServiceName string

@description('Name of the Communication Service.')
@minLength(1)
@maxLength(63)
param communicationServiceName string

@description('Where ACS stores its data at rest (a geography, not a region).')
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
param dataLocation string

@description('Display name of the sender of alert e-mails.')
@minLength(1)
@maxLength(64)
param senderDisplayName string

@description('Tags applied to every resource.')
param tags object = {}

resource emailService 'Microsoft.Communication/emailServices@2026-03-18' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: { dataLocation: dataLocation }

  resource domain 'domains' = {
    name: 'AzureManagedDomain'
    location: 'global'
    tags: tags
    properties: {
      domainManagement: 'AzureManaged'
      userEngagementTracking: 'Disabled'
    }

    // An Azure-managed domain cannot have custom sender usernames: its only sender is the built-in DoNotReply.
    // Declaring it here sets its display name and makes the sender an explicit part of the template.
    // A custom, verified domain (CustomerManaged) is what allows other usernames.
    resource sender 'senderUsernames' = {
      name: 'donotreply'
      properties: {
        username: 'DoNotReply'
        displayName: senderDisplayName
      }
    }
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2026-03-18' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    disableLocalAuth: true
    linkedDomains: [
      emailService::domain.id
    ]
  }
}

@description('Name of the Communication Service (scope of the app\'s send role).')
output communicationServiceName string = communicationService.name

@description('Endpoint the app sends through, e.g. https://<name>.<geo>.communication.azure.com.')
output endpoint string = 'https://${communicationService.properties.hostName}'

@description('Sender address of alert e-mails (DoNotReply@<guid>.azurecomm.net).')
output mailFrom string = '${emailService::domain::sender.properties.username}@${emailService::domain.properties.mailFromSenderDomain}'
