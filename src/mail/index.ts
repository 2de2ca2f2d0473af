/** Alert mail: the Mailer interface, its transports (ACS, SMTP, outbox) and the templates. */
export { DEFAULT_MAIL_RETRY, isRetryableMailError, sendWithRetry, type Mailer, type MailMessage, type RetryOptions, type SentMail } from "./mailer.js";
export { ALERT_HEADER, AcsMailer, createMailer, operationIdFor, OutboxMailer, SmtpMailer, type AcsMailerOptions } from "./transports.js";
export { AUTH_ALERT_CAUSES, escapeHtml, formatDate, renderAlert, type AlertContent, type AlertKind, type Locale, type RenderedMail } from "./templates.js";
