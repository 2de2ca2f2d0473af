/**
 * The alert mails, in English and Swedish, as plain text and HTML rendered from one content model so that both
 * parts always say the same. Every value put into the HTML is escaped. Nothing here ever receives a secret value.
 */
import { appCredentialsPageUrl, CLOUDS, type CloudName } from "../config/clouds.js";
import { redact } from "../util/redact.js";

export type Locale = "en" | "sv";
export type AlertKind = "threshold" | "rotated" | "authFailure" | "authFixed";

/** The facts one alert mail is built from (ids, names, dates — never a secret or its hint). */
export interface AlertContent {
  kind: AlertKind;
  locale: Locale;
  schoolName: string;
  tenantId: string;
  clientId: string;
  /** When the secret expires (threshold mails; optional elsewhere). */
  expiresOn?: Date | undefined;
  /** Days left (UTC calendar days; 0 on the last day). */
  daysLeft?: number | undefined;
  /** Already expired (default: daysLeft < 0). */
  expired?: boolean | undefined;
  /** Where the expiry date comes from. */
  source?: "keyVault" | "entra" | undefined;
  /** Entra's date minus the date stored in Key Vault, in days, when they differ. */
  mismatchDays?: number | undefined;
  /** The error code of an auth failure (authFailure/authFixed). */
  cause?: string | undefined;
  /** The Graph application permission the app lacks (causes MISSING_PERMISSION, AUTH_CONSENT_MISSING). */
  permission?: string | undefined;
  /** Where the tenant's admin grants admin consent (causes MISSING_PERMISSION, AUTH_CONSENT_MISSING). */
  consentUrl?: string | undefined;
  /** What happened, one line per case, as the run reported it (cause IMMUTABLE_ID_UPN_RESTORE_FAILED: user and UPNs). */
  details?: string[] | undefined;
  /** The tenant has no admin addresses: the mail goes to the operators only and says so. */
  noAdmins?: boolean;
  /** The tenant's cloud: its Entra admin center and the app's Certificates & secrets page are linked (default global). */
  cloud?: CloudName | undefined;
  /** The Secret ID (keyId) of the client secret the mail is about, where Entra told it (never the value). */
  secretId?: string | undefined;
  /** Replies reach the operators (the mail carries their Reply-To): only then does the text invite a reply. */
  canReply?: boolean | undefined;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

interface Doc {
  subject: string;
  greeting: string;
  intro: string[];
  facts: Array<[string, string]>;
  stepsTitle?: string;
  steps: string[];
  outro: string[];
  banner?: string;
}

/** Dates are shown in the zone of the reader's language: Swedish readers in Swedish time, others in UTC. */
const ZONE: Record<Locale, string> = { en: "UTC", sv: "Europe/Stockholm" };

export function formatDate(d: Date, locale: Locale): string {
  const s = new Intl.DateTimeFormat(locale === "sv" ? "sv-SE" : "en-GB", {
    timeZone: ZONE[locale],
    year: "numeric",
    month: "long",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(d);
  return `${s} ${locale === "sv" ? "svensk tid" : "UTC"}`;
}

const expiredOf = (c: AlertContent): boolean => c.expired ?? (c.daysLeft ?? 0) < 0;

// Filled in per mail from the tenant's cloud (see build): the admin center and the app's Certificates & secrets page.
const ADMIN_CENTER = "{adminCenter}";
const CREDENTIALS_PAGE = "{credentialsPage}";

const T = {
  en: {
    greeting: "Hello,",
    school: "School",
    tenant: "Tenant ID",
    app: "Application (client) ID",
    expires: "Expires",
    daysLeft: "Days left",
    source: "Date from",
    sourceEntra: "Microsoft Entra (the app's own credentials)",
    sourceVault: "the date given when the secret was handed over",
    cause: "Error",
    permission: "Missing permission",
    consentUrl: "Admin consent",
    mismatch: (d: number) => `Note: Microsoft Entra shows this secret expiring ${Math.abs(d)} day(s) ${d < 0 ? "earlier" : "later"} than the date we were given. The date above is Entra's.`,
    noAdmins: "No administrator e-mail address is registered for this tenant, so this mail went to the platform operators only. Operators: forward it to the customer and register their address with `entra-sync tenant update <tenant> --admin-email <address>`.",
    renewTitle: "How to create a new client secret",
    secretId: "Secret ID of the secret",
    credentialsPage: "Certificates & secrets",
    renew: (clientId: string, secretId?: string) => [
      `Sign in to the Microsoft Entra admin center (${ADMIN_CENTER}) as at least an Application Administrator.`,
      `Open the app's Certificates & secrets page: ${CREDENTIALS_PAGE} (or go to Entra ID → App registrations → All applications, open the app with Application (client) ID ${clientId} and choose Certificates & secrets).`,
      "Under Client secrets choose New client secret, give it a description and an expiry (at most 24 months), and choose Add.",
      "Copy the secret's Value at once (it is shown only once). Copy the Value, not the Secret ID.",
      "Hand the Value and its expiry date to the platform through the agreed secure channel. Never send a secret by e-mail, not even in a reply to this one.",
      `Keep the old secret${secretId ? ` (Secret ID ${secretId})` : ""} until we confirm that the new one works: you will get a short mail, and can then delete the old one.`,
    ],
    days: (n: number) => (n === 1 ? "1 day" : `${n} days`),
    threshold: {
      subject: (c: AlertContent, d: number) =>
        expiredOf(c) ? `Action needed: the client secret for ${c.schoolName} has expired` : d === 0 ? `Action needed: the client secret for ${c.schoolName} expires today` : `Action needed: the client secret for ${c.schoolName} expires in ${T.en.days(d)}`,
      intro: (c: AlertContent, d: number, date: string) => [
        expiredOf(c)
          ? `The client secret that lets the platform read your school's users from Microsoft Entra ID expired on ${date}. Until a new secret is handed over, user changes in ${c.schoolName} no longer reach the platform.`
          : `The client secret that lets the platform read your school's users from Microsoft Entra ID expires on ${date} (${d === 0 ? "today" : `in ${T.en.days(d)}`}). When it expires, user changes in ${c.schoolName} stop reaching the platform.`,
        "Please create a new client secret and hand it over before then. It takes about five minutes:",
      ],
    },
    rotated: {
      subject: (c: AlertContent) => `Thank you: the new client secret for ${c.schoolName} works`,
      intro: (c: AlertContent, date: string | undefined) => [
        `Thank you. The platform has just signed in to ${c.schoolName}'s tenant with the new client secret, and synchronisation works.${date ? ` The new secret expires on ${date}; we will remind you in good time.` : ""}`,
        "You can now delete the previous client secret of the app (Certificates & secrets → Client secrets).",
      ],
    },
    fixed: {
      subject: (c: AlertContent) => `Resolved: synchronisation for ${c.schoolName} works again`,
      intro: (c: AlertContent) => [`Thank you. The problem we wrote about earlier is resolved: the platform signed in to ${c.schoolName}'s tenant and synchronisation works again. Nothing more is needed.`],
    },
    failure: {
      subject: (c: AlertContent) => `Action needed: synchronisation for ${c.schoolName} has stopped`,
      lead: (c: AlertContent) => `The platform could not sign in to ${c.schoolName}'s tenant just now, so user changes no longer reach the platform.`,
      causes: {
        AUTH_SECRET_EXPIRED: { why: "Microsoft Entra says the client secret has expired.", renew: true, steps: [] as string[] },
        AUTH_SECRET_INVALID: {
          why: "Microsoft Entra rejected the client secret as invalid. Most often the Secret ID was handed over instead of the secret's Value, or the secret was deleted in Entra.",
          renew: true,
          steps: [],
        },
        AUTH_APP_NOT_FOUND: {
          why: "Microsoft Entra cannot find the app in your tenant: it was deleted, or admin consent has never been granted for it.",
          renew: false,
          steps: [
            `In the Microsoft Entra admin center (${ADMIN_CENTER}) go to Entra ID → App registrations → All applications and check that an app with the Application (client) ID above exists.`,
            "Open it → API permissions → Grant admin consent for your organisation, and confirm.",
            "If the app was deleted, restore it under Entra ID → App registrations → Deleted applications, or tell the platform so that a new registration can be agreed.",
          ],
        },
        AUTH_CONSENT_MISSING: {
          why: "The app may sign in but lacks admin consent for the Microsoft Graph permission it needs.",
          renew: false,
          steps: [
            `In the Microsoft Entra admin center (${ADMIN_CENTER}) go to Entra ID → App registrations → All applications and open the app with the Application (client) ID above.`,
            "Open API permissions. Make sure the Microsoft Graph permission named above (Missing permission) is listed as an Application permission; add it if not (Add a permission → Microsoft Graph → Application permissions).",
            "Choose Grant admin consent for your organisation and confirm (or open the admin consent link above as a Global Administrator). The Status column must show Granted.",
          ],
        },
        MISSING_PERMISSION: {
          subject: (c: AlertContent) => `Action needed: a permission is missing for ${c.schoolName}'s synchronisation`,
          lead: (c: AlertContent) => `The platform signs in to ${c.schoolName}'s tenant, but the app lacks a Microsoft Graph permission one part of the synchronisation needs, so that part does nothing until it is granted.`,
          why: "Immutable ID sync writes nothing without it: Domain.Read.All lets it tell your federated domains apart, User.ReadWrite.All lets it write the users' ImmutableId.",
          renew: false,
          steps: [
            `In the Microsoft Entra admin center (${ADMIN_CENTER}) go to Entra ID → App registrations → All applications and open the app with the Application (client) ID above.`,
            "Open API permissions → Add a permission → Microsoft Graph → Application permissions, and add the permission named above.",
            "Choose Grant admin consent for your organisation and confirm (or open the admin consent link above as a Global Administrator). The Status column must show Granted.",
          ],
        },
        IMMUTABLE_ID_UPN_RESTORE_FAILED: {
          subject: (c: AlertContent) => `Action needed: users of ${c.schoolName} are left on a temporary sign-in name`,
          lead: (c: AlertContent) => `To give users of ${c.schoolName} in a federated domain their ImmutableId, the platform moves each one's user name (UPN) to the tenant's onmicrosoft.com domain and back. For the users below, Microsoft Entra refused the step back, so they are on the onmicrosoft.com name and cannot sign in through your federated domain.`,
          why: "Microsoft Entra moves a user into a federated domain only together with an ImmutableId, so the name cannot simply be put back. The platform tries again at every synchronisation.",
          renew: false,
          steps: [
            "Either resolve what Entra refused (below; most often another user already holds the ImmutableId) and let the next synchronisation finish the move,",
            "or put each user's name back yourself together with an ImmutableId in the same change (Microsoft Graph PowerShell: Update-MgUser -UserId <id> -UserPrincipalName <original name> -OnPremisesImmutableId <value>).",
          ],
        },
        AUTH_APP_DISABLED: {
          why: "The app is disabled for sign-in in your tenant.",
          renew: false,
          steps: [
            `In the Microsoft Entra admin center (${ADMIN_CENTER}) go to Entra ID → Enterprise apps and open the app with the Application (client) ID above.`,
            "Open Properties, set Enabled for users to sign-in? to Yes, and Save.",
          ],
        },
        AUTH_TENANT_NOT_FOUND: {
          why: "Microsoft Entra does not know the tenant ID registered with the platform.",
          renew: false,
          steps: [`Look up your Tenant ID in the Microsoft Entra admin center (${ADMIN_CENTER}) → Entra ID → Overview, and send it to the platform (a tenant ID is not secret).`],
        },
        AUTH_FAILED: {
          why: "Microsoft Entra refused to sign the app in.",
          renew: false,
          steps: [`Check in the Microsoft Entra admin center (${ADMIN_CENTER}) that the app with the Application (client) ID above exists, is enabled and has admin consent, and contact the platform if the problem remains.`],
        },
      } as Record<string, { why: string; renew: boolean; steps: string[]; lead?: (c: AlertContent) => string; subject?: (c: AlertContent) => string }>,
      stepsTitle: "What to do",
      after: "We check again at every synchronisation and will tell you once it works. You get at most one mail a day about this problem.",
    },
    outro: (canReply: boolean) => [`This is an automated message from the platform's user synchronisation (entra-sync). Questions: ${canReply ? "reply to this mail or contact the platform's support" : "contact the platform's support (replies to this address are not read)"}.`],
  },
  sv: {
    greeting: "Hej,",
    school: "Skola",
    tenant: "Klientorganisations-ID (tenant ID)",
    app: "Program-ID (klient-ID)",
    expires: "Går ut",
    daysLeft: "Dagar kvar",
    source: "Datum från",
    sourceEntra: "Microsoft Entra (appens egna autentiseringsuppgifter)",
    sourceVault: "datumet som angavs när hemligheten lämnades över",
    cause: "Fel",
    permission: "Behörighet som saknas",
    consentUrl: "Administratörsmedgivande",
    mismatch: (d: number) => `Obs: Microsoft Entra visar att hemligheten går ut ${Math.abs(d)} dag(ar) ${d < 0 ? "tidigare" : "senare"} än det datum vi fick. Datumet ovan är Entras.`,
    noAdmins: "Ingen administratörsadress är registrerad för den här klientorganisationen, så brevet gick bara till plattformens drift. Drift: vidarebefordra det till kunden och registrera adressen med `entra-sync tenant update <tenant> --admin-email <adress>`.",
    renewTitle: "Så skapar du en ny klienthemlighet",
    secretId: "Hemlighetens Hemlighets-ID",
    credentialsPage: "Certifikat och hemligheter",
    renew: (clientId: string, secretId?: string) => [
      `Logga in i administrationscentret för Microsoft Entra (${ADMIN_CENTER}) som minst programadministratör (Application Administrator).`,
      `Öppna appens sida Certifikat och hemligheter: ${CREDENTIALS_PAGE} (eller gå till Entra ID → Appregistreringar → Alla program, öppna appen med program-ID (klient-ID) ${clientId} och välj Certifikat och hemligheter).`,
      "Under Klienthemligheter väljer du Ny klienthemlighet, anger en beskrivning och en giltighetstid (högst 24 månader) och väljer Lägg till.",
      "Kopiera hemlighetens Värde direkt (det visas bara en gång). Kopiera Värdet, inte Hemlighets-ID.",
      "Lämna Värdet och dess utgångsdatum till plattformen via den överenskomna säkra kanalen. Skicka aldrig en hemlighet med e-post, inte heller som svar på det här brevet.",
      `Behåll den gamla hemligheten${secretId ? ` (Hemlighets-ID ${secretId})` : ""} tills vi bekräftat att den nya fungerar: du får ett kort brev och kan sedan ta bort den gamla.`,
    ],
    days: (n: number) => (n === 1 ? "1 dag" : `${n} dagar`),
    threshold: {
      subject: (c: AlertContent, d: number) =>
        expiredOf(c) ? `Åtgärd krävs: klienthemligheten för ${c.schoolName} har gått ut` : d === 0 ? `Åtgärd krävs: klienthemligheten för ${c.schoolName} går ut i dag` : `Åtgärd krävs: klienthemligheten för ${c.schoolName} går ut om ${T.sv.days(d)}`,
      intro: (c: AlertContent, d: number, date: string) => [
        expiredOf(c)
          ? `Klienthemligheten som låter plattformen läsa skolans användare från Microsoft Entra ID gick ut ${date}. Tills en ny hemlighet lämnats över når ändringar av användare i ${c.schoolName} inte längre plattformen.`
          : `Klienthemligheten som låter plattformen läsa skolans användare från Microsoft Entra ID går ut ${date} (${d === 0 ? "i dag" : `om ${T.sv.days(d)}`}). När den gått ut når ändringar av användare i ${c.schoolName} inte längre plattformen.`,
        "Skapa en ny klienthemlighet och lämna över den innan dess. Det tar ungefär fem minuter:",
      ],
    },
    rotated: {
      subject: (c: AlertContent) => `Tack: den nya klienthemligheten för ${c.schoolName} fungerar`,
      intro: (c: AlertContent, date: string | undefined) => [
        `Tack! Plattformen har just loggat in i ${c.schoolName}s klientorganisation med den nya klienthemligheten, och synkroniseringen fungerar.${date ? ` Den nya hemligheten går ut ${date}; vi påminner i god tid.` : ""}`,
        "Du kan nu ta bort appens tidigare klienthemlighet (Certifikat och hemligheter → Klienthemligheter).",
      ],
    },
    fixed: {
      subject: (c: AlertContent) => `Löst: synkroniseringen för ${c.schoolName} fungerar igen`,
      intro: (c: AlertContent) => [`Tack! Problemet vi skrev om tidigare är löst: plattformen loggade in i ${c.schoolName}s klientorganisation och synkroniseringen fungerar igen. Inget mer behövs.`],
    },
    failure: {
      subject: (c: AlertContent) => `Åtgärd krävs: synkroniseringen för ${c.schoolName} har stoppat`,
      lead: (c: AlertContent) => `Plattformen kunde just inte logga in i ${c.schoolName}s klientorganisation, så ändringar av användare når inte längre plattformen.`,
      causes: {
        AUTH_SECRET_EXPIRED: { why: "Microsoft Entra säger att klienthemligheten har gått ut.", renew: true, steps: [] as string[] },
        AUTH_SECRET_INVALID: {
          why: "Microsoft Entra avvisade klienthemligheten som ogiltig. Oftast lämnades Hemlighets-ID över i stället för hemlighetens Värde, eller så har hemligheten tagits bort i Entra.",
          renew: true,
          steps: [],
        },
        AUTH_APP_NOT_FOUND: {
          why: "Microsoft Entra hittar inte appen i er klientorganisation: den har tagits bort, eller så har administratörsmedgivande aldrig getts.",
          renew: false,
          steps: [
            `I administrationscentret för Microsoft Entra (${ADMIN_CENTER}), gå till Entra ID → Appregistreringar → Alla program och kontrollera att det finns en app med program-ID (klient-ID) enligt ovan.`,
            "Öppna den → API-behörigheter → Bevilja administratörsmedgivande för organisationen, och bekräfta.",
            "Om appen har tagits bort: återställ den under Entra ID → Appregistreringar → Borttagna program, eller kontakta plattformen så att en ny registrering kan avtalas.",
          ],
        },
        AUTH_CONSENT_MISSING: {
          why: "Appen kan logga in men saknar administratörsmedgivande för den Microsoft Graph-behörighet den behöver.",
          renew: false,
          steps: [
            `I administrationscentret för Microsoft Entra (${ADMIN_CENTER}), gå till Entra ID → Appregistreringar → Alla program och öppna appen med program-ID (klient-ID) enligt ovan.`,
            "Öppna API-behörigheter. Kontrollera att Microsoft Graph-behörigheten som anges ovan (Behörighet som saknas) finns som programbehörighet (Application); lägg annars till den (Lägg till en behörighet → Microsoft Graph → Programbehörigheter).",
            "Välj Bevilja administratörsmedgivande för organisationen och bekräfta (eller öppna länken för administratörsmedgivande ovan som global administratör). Kolumnen Status ska visa Beviljat.",
          ],
        },
        MISSING_PERMISSION: {
          subject: (c: AlertContent) => `Åtgärd krävs: en behörighet saknas för synkroniseringen för ${c.schoolName}`,
          lead: (c: AlertContent) => `Plattformen loggar in i ${c.schoolName}s klientorganisation, men appen saknar en Microsoft Graph-behörighet som en del av synkroniseringen behöver, så den delen gör ingenting förrän behörigheten beviljats.`,
          why: "Synkroniseringen av Immutable ID skriver ingenting utan den: Domain.Read.All låter den skilja ut era federerade domäner, User.ReadWrite.All låter den skriva användarnas ImmutableId.",
          renew: false,
          steps: [
            `I administrationscentret för Microsoft Entra (${ADMIN_CENTER}), gå till Entra ID → Appregistreringar → Alla program och öppna appen med program-ID (klient-ID) enligt ovan.`,
            "Öppna API-behörigheter → Lägg till en behörighet → Microsoft Graph → Programbehörigheter och lägg till behörigheten som anges ovan.",
            "Välj Bevilja administratörsmedgivande för organisationen och bekräfta (eller öppna länken för administratörsmedgivande ovan som global administratör). Kolumnen Status ska visa Beviljat.",
          ],
        },
        IMMUTABLE_ID_UPN_RESTORE_FAILED: {
          subject: (c: AlertContent) => `Åtgärd krävs: användare i ${c.schoolName} har kvar ett tillfälligt inloggningsnamn`,
          lead: (c: AlertContent) => `För att ge användare i ${c.schoolName} i en federerad domän deras ImmutableId flyttar plattformen användarnamnet (UPN) till klientorganisationens onmicrosoft.com-domän och tillbaka. För användarna nedan vägrade Microsoft Entra flytten tillbaka, så de har kvar onmicrosoft.com-namnet och kan inte logga in via er federerade domän.`,
          why: "Microsoft Entra flyttar en användare till en federerad domän bara tillsammans med ett ImmutableId, så namnet kan inte bara sättas tillbaka. Plattformen försöker igen vid varje synkronisering.",
          renew: false,
          steps: [
            "Antingen åtgärdar ni det Entra vägrade (nedan; oftast har en annan användare redan samma ImmutableId) och låter nästa synkronisering slutföra flytten,",
            "eller sätter ni själva tillbaka varje användares namn tillsammans med ett ImmutableId i samma ändring (Microsoft Graph PowerShell: Update-MgUser -UserId <id> -UserPrincipalName <ursprungligt namn> -OnPremisesImmutableId <värde>).",
          ],
        },
        AUTH_APP_DISABLED: {
          why: "Appen är inaktiverad för inloggning i er klientorganisation.",
          renew: false,
          steps: [
            `I administrationscentret för Microsoft Entra (${ADMIN_CENTER}), gå till Entra ID → Företagsappar och öppna appen med program-ID (klient-ID) enligt ovan.`,
            "Öppna Egenskaper, sätt Aktiverad för användarinloggning? till Ja och spara.",
          ],
        },
        AUTH_TENANT_NOT_FOUND: {
          why: "Microsoft Entra känner inte till det klientorganisations-ID som är registrerat hos plattformen.",
          renew: false,
          steps: [`Slå upp ert klientorganisations-ID (Tenant ID) i administrationscentret för Microsoft Entra (${ADMIN_CENTER}) → Entra ID → Översikt och skicka det till plattformen (ett tenant ID är inte hemligt).`],
        },
        AUTH_FAILED: {
          why: "Microsoft Entra vägrade logga in appen.",
          renew: false,
          steps: [`Kontrollera i administrationscentret för Microsoft Entra (${ADMIN_CENTER}) att appen med program-ID (klient-ID) enligt ovan finns, är aktiverad och har administratörsmedgivande, och kontakta plattformen om problemet kvarstår.`],
        },
      } as Record<string, { why: string; renew: boolean; steps: string[]; lead?: (c: AlertContent) => string; subject?: (c: AlertContent) => string }>,
      stepsTitle: "Gör så här",
      after: "Vi försöker igen vid varje synkronisering och hör av oss när det fungerar. Du får högst ett brev om dagen om det här problemet.",
    },
    outro: (canReply: boolean) => [`Det här är ett automatiskt meddelande från plattformens användarsynkronisering (entra-sync). Frågor: ${canReply ? "svara på brevet eller kontakta plattformens support" : "kontakta plattformens support (svar till den här adressen läses inte)"}.`],
  },
};

/** The auth failure codes that get a mail of their own (anything else auth-related gets the generic text). */
export const AUTH_ALERT_CAUSES = ["AUTH_SECRET_EXPIRED", "AUTH_SECRET_INVALID", "AUTH_APP_NOT_FOUND", "AUTH_CONSENT_MISSING", "AUTH_APP_DISABLED", "AUTH_TENANT_NOT_FOUND", "AUTH_FAILED", "MISSING_PERMISSION", "IMMUTABLE_ID_UPN_RESTORE_FAILED"] as const;

function build(c: AlertContent): Doc {
  const t = T[c.locale];
  const facts: Array<[string, string]> = [
    [t.school, c.schoolName],
    [t.tenant, c.tenantId],
    [t.app, c.clientId],
  ];
  const date = c.expiresOn ? formatDate(c.expiresOn, c.locale) : undefined;
  const outro = t.outro(c.canReply ?? true);
  const base = { greeting: t.greeting, facts, outro, ...(c.noAdmins ? { banner: t.noAdmins } : {}) };
  const secretFacts = () => {
    if (c.secretId) facts.push([t.secretId, c.secretId]);
    facts.push([t.credentialsPage, CREDENTIALS_PAGE]);
  };
  switch (c.kind) {
    case "threshold": {
      const d = c.daysLeft ?? 0;
      if (date) facts.push([t.expires, date]);
      facts.push([t.daysLeft, String(d)]);
      if (c.source) facts.push([t.source, c.source === "entra" ? t.sourceEntra : t.sourceVault]);
      const intro = t.threshold.intro(c, d, date ?? "?");
      if (c.mismatchDays) intro.push(t.mismatch(c.mismatchDays));
      secretFacts();
      return { ...base, subject: t.threshold.subject(c, d), intro, stepsTitle: t.renewTitle, steps: t.renew(c.clientId, c.secretId) };
    }
    case "rotated":
      if (date) facts.push([t.expires, date]);
      return { ...base, subject: t.rotated.subject(c), intro: t.rotated.intro(c, date), steps: [] };
    case "authFixed":
      return { ...base, subject: t.fixed.subject(c), intro: t.fixed.intro(c), steps: [] };
    case "authFailure": {
      const cause = t.failure.causes[c.cause ?? "AUTH_FAILED"] ?? t.failure.causes.AUTH_FAILED!;
      facts.push([t.cause, c.cause ?? "AUTH_FAILED"]);
      if (c.permission) facts.push([t.permission, c.permission]);
      if (c.consentUrl) facts.push([t.consentUrl, c.consentUrl]);
      if (date) facts.push([t.expires, date]);
      if (cause.renew) secretFacts();
      const steps = cause.renew ? t.renew(c.clientId, c.secretId) : cause.steps;
      return { ...base, subject: (cause.subject ?? t.failure.subject)(c), intro: [(cause.lead ?? t.failure.lead)(c), cause.why, ...(c.details ?? [])], stepsTitle: cause.renew ? t.renewTitle : t.failure.stepsTitle, steps, outro: [t.failure.after, ...outro] };
    }
  }
}

/** Every text of a mail with the tenant's cloud's links filled in. */
function withLinks(d: Doc, c: AlertContent): Doc {
  const cloud = c.cloud ?? "global";
  const fill = (x: string) => x.replaceAll(ADMIN_CENTER, CLOUDS[cloud].adminCenter).replaceAll(CREDENTIALS_PAGE, appCredentialsPageUrl(cloud, c.clientId));
  return {
    ...d,
    intro: d.intro.map(fill),
    facts: d.facts.map(([k, v]) => [k, fill(v)]),
    steps: d.steps.map(fill),
    outro: d.outro.map(fill),
    ...(d.banner ? { banner: fill(d.banner) } : {}),
  };
}

/** Escaped text with its https links made clickable (a trailing full stop, comma or bracket is not part of a link). */
function linkified(escaped: string): string {
  return escaped.replace(/https:\/\/[^\s<>"]+/g, (m) => {
    const url = m.replace(/[.,;:)]+$/, "");
    return `<a href="${url}">${url}</a>${m.slice(url.length)}`;
  });
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}

function toText(d: Doc): string {
  const lines: string[] = [];
  if (d.banner) lines.push(`*** ${d.banner} ***`, "");
  lines.push(d.greeting, "");
  for (const p of d.intro) lines.push(p, "");
  const width = Math.max(...d.facts.map(([k]) => k.length));
  for (const [k, v] of d.facts) lines.push(`  ${`${k}:`.padEnd(width + 2)}${v}`);
  lines.push("");
  if (d.steps.length) {
    if (d.stepsTitle) lines.push(d.stepsTitle, "");
    d.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
    lines.push("");
  }
  for (const p of d.outro) lines.push(p, "");
  return `${lines.join("\n").trimEnd()}\n`;
}

function toHtml(d: Doc, locale: Locale): string {
  const e = escapeHtml;
  const parts: string[] = [
    `<!DOCTYPE html>`,
    `<html lang="${locale}"><head><meta charset="utf-8"><title>${e(d.subject)}</title></head>`,
    `<body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px;line-height:1.5;color:#1b1b1b">`,
  ];
  if (d.banner) parts.push(`<p style="background:#fff4ce;padding:8px;border-left:4px solid #c19c00">${e(d.banner)}</p>`);
  parts.push(`<p>${e(d.greeting)}</p>`);
  for (const p of d.intro) parts.push(`<p>${linkified(e(p))}</p>`);
  parts.push(`<table style="border-collapse:collapse">`);
  for (const [k, v] of d.facts) parts.push(`<tr><th style="text-align:left;padding:2px 12px 2px 0">${e(k)}</th><td style="padding:2px 0">${linkified(e(v))}</td></tr>`);
  parts.push(`</table>`);
  if (d.steps.length) {
    if (d.stepsTitle) parts.push(`<h3>${e(d.stepsTitle)}</h3>`);
    parts.push(`<ol>${d.steps.map((s) => `<li>${linkified(e(s))}</li>`).join("")}</ol>`);
  }
  for (const p of d.outro) parts.push(`<p style="color:#616161">${e(p)}</p>`);
  parts.push(`</body></html>`);
  return parts.join("\n");
}

/** Renders one alert mail (subject, plain text, HTML) in the tenant's language. */
export function renderAlert(c: AlertContent): RenderedMail {
  const d = withLinks(build(c), c);
  // Defence in depth: a registered secret never leaves in a mail, whatever a name or a code carried.
  return { subject: redact(d.subject), text: redact(toText(d)), html: redact(toHtml(d, c.locale)) };
}
