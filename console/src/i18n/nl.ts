import type { Messages } from "./en";

/** Nederlandse labels: de woorden van het product zelf (docs/domain.md#vocabulary). */
const nl: Messages = {
  app: { name: "Seatkeeper", skip: "Naar de inhoud", language: "Taal", signOut: "Afmelden", signedInAs: "Aangemeld als {{email}} ({{role}}, {{org}})", nav: "Hoofdmenu" },
  roles: { vendor_admin: "leveranciersbeheerder", partner_manager: "partnerbeheerder", company_manager: "bedrijfsbeheerder", learner: "deelnemer", platform: "platform" },
  common: {
    loading: "Laden…", save: "Opslaan", cancel: "Annuleren", close: "Sluiten", next: "Volgende pagina", previous: "Vorige pagina", page: "Pagina {{n}}",
    retry: "Opnieuw proberen", yes: "Ja", no: "Nee", none: "Geen", actions: "Acties", email: "E-mailadres", name: "Naam", status: "Status", empty: "Niets te tonen.", emptyPage: "Niets op deze pagina; de volgende pagina kan er meer hebben.",
    all: "Alle", apply: "Toepassen", clear: "Wissen", back: "Terug", org: "Organisatie", selected: "{{count}} geselecteerd",
  },
  signIn: {
    title: "Aanmelden", local: "Lokaal aanmelden: kies wie u bent. De lokale server ondertekent het token.", role: "Rol", org: "Organisatie-id",
    email: "E-mailadres (optioneel)", submit: "Aanmelden", oidc: "Meld u aan met het account van uw organisatie.", oidcButton: "Aanmelden",
    expired: "Uw sessie is beëindigd. Meld u opnieuw aan.", failed: "Aanmelden mislukt: {{reason}}", completing: "Aanmelden wordt afgerond…",
  },
  nav: {
    licences: "Licenties", orders: "Aangevraagde bestellingen", companies: "Bedrijf beheren", renewals: "Verlengingen", usage: "Gebruiksrapport", users: "Gebruikers",
    access: "Toegang", vendor: "Organisaties", notifications: "Meldingen", audit: "Auditlog",
  },
  manage: { banner: "Beheermodus: u beheert {{name}}.", exit: "Afsluiten" },
  licences: {
    title: "Licenties", lots: "Licenties", noLots: "Er zijn nog geen licenties toegekend. Vraag licenties aan op het tabblad Bestellingen.",
    lotTitle: "Partij van {{quantity}}", ofAllocated: "{{used}} van {{seats}} toegewezen", seats: "Licenties", used: "Gebruikt", remaining: "Resterend", validUntil: "Geldig tot",
    validFrom: "Geldig vanaf", noEnd: "geen einde", lotStatus: { active: "Actief", expired: "Verlopen" }, summary: "Gebruik", limit: "Gebruikerslimiet", percentUsed: "Percentage gebruikt",
    tabs: "Licentieonderdelen", tabOrders: "Bestellingen", tabExpired: "Verlopen licenties", tabImport: "Importtoewijzing",
  },
  orders: {
    request: "Licenties aanvragen", quantity: "Aantal licenties", note: "Opmerking (optioneel)", requested: "Bestelling van {{quantity}} licenties aangevraagd.",
    requestedAt: "Aangevraagd", company: "Bedrijf", status: { requested: "Aangevraagd", assigned: "Toegekend", rejected: "Afgewezen", cancelled: "Geannuleerd" },
    noteHeading: "Opmerking", cancelOrder: "Bestelling annuleren", none: "Geen bestellingen.", reason: "Reden", assignedLot: "Partij geldig tot {{date}}",
  },
  expired: {
    none: "Geen deelnemers met een verlopen licentie.", selectAll: "Alles selecteren", selectOne: "{{email}} selecteren", allocate: "Licenties toewijzen", expiredOn: "Verlopen",
    allocated: "{{count}} licenties toegewezen.", alreadyActive: "{{count}} al actief.", short: "Niet genoeg licenties: {{needed}} nodig, {{available}} beschikbaar. Er is niets toegewezen.",
    orderMore: "{{count}} licenties aanvragen", allExpired: "Alle deelnemers met een verlopen licentie zijn geselecteerd, op elke pagina.", committing: "Licenties worden toegewezen…", progress: "Voortgang",
  },
  import: {
    title: "Importtoewijzing", intro: "Upload een CSV- of spreadsheetbestand (.xlsx) met deelnemers. U controleert het resultaat voordat er iets gebeurt.",
    file: "Gebruikersbestand", mode: "Modus", modeRenew: "Licenties verlengen van de deelnemers in het bestand", modeSync: "Gebruikers synchroniseren: ook de gebruikers vrijgeven die niet in het bestand staan",
    upload: "Uploaden", column: "Kolom met het e-mailadres", chooseColumn: "Kies de kolom…", review: "Controle", outcome: "Uitkomst", count: "Deelnemers",
    showRows: "Rijen tonen", hideRows: "Rijen verbergen", showMore: "Meer tonen", shown: "{{shown}} van {{total}} getoond", line: "Regel", rowsOf: "Rijen: {{outcome}}",
    outcomes: { renew: "Te verlengen", already_active: "Al actief", unknown: "Onbekend", duplicate: "Dubbel", invalid: "Ongeldig", release: "Vrij te geven" },
    available: "Beschikbare licenties", shortfall: "Tekort", rows: "Rijen in het bestand",
    shortfallText: "Er zijn {{shortfall}} licenties meer nodig: {{renew}} te verlengen, {{available}} beschikbaar. Vraag eerst licenties aan.",
    syncWarning: "Synchroniseren: {{count}} gebruikers die niet in het bestand staan worden vrijgegeven (hun gegevens blijven bewaard).",
    renew: "Licenties verlengen", committing: "Licenties worden verlengd…", progress: "Voortgang", result: "Klaar: {{allocated}} licenties toegewezen, {{released}} gebruikers vrijgegeven.",
    again: "Nog een bestand importeren", failed: "De import is mislukt: {{error}}",
  },
  requested: {
    title: "Aangevraagde bestellingen", filters: "Filters", status: "Status", company: "Bedrijf", allCompanies: "Alle bedrijven", from: "Van", to: "Tot",
    assign: "Toewijzen", reject: "Afwijzen", rejectReason: "Reden van afwijzing", confirmReject: "Bestelling afwijzen", assigned: "Bestelling toegewezen: een partij van {{quantity}} licenties, geldig tot {{date}}.",
    rejected: "Bestelling afgewezen.", orderFor: "bestelling van {{company}} voor {{quantity}}",
  },
  companies: {
    title: "Bedrijf beheren", intro: "Kies het klantbedrijf dat u wilt beheren.", manage: "Bedrijf beheren", add: "Bedrijf toevoegen", none: "Nog geen klantbedrijven.",
    orgId: "Id (optioneel)", created: "{{name}} aangemaakt.",
  },
  renewals: {
    title: "Verlengingen", intro: "Alle deelnemers die op of voor deze datum verlengd kunnen worden. U kunt de datum zo ver vooruit schuiven als u wilt.", until: "Verlengdatum tot en met",
    licenceDate: "Licentiedatum", renewalDate: "Verlengdatum", licenceCount: "Aantal licenties", lastLogin: "Laatste login", willRenew: "Wordt verlengd", whyNot: "Waarom niet",
    renewable: "Verlengbaar", notRenewable: "Niet verlengbaar", makeRenewable: "Verlengbaar", switchFor: "Verlengbaar: {{email}}", downloadExcel: "Download Excel", downloadCsv: "Download CSV",
    none: "Niemand wordt tot deze datum verlengd.", updated: "{{count}} gebruikers bijgewerkt.", selectAll: "Alles selecteren", select: "{{email}} selecteren",
    renewedAgain: "{{count}} verlengd vanaf de verlengdatum waarop ze niet verlengd werden.", blockedAgain: "{{email}} is weer verlengbaar maar kon niet worden verlengd: er zijn geen licenties meer in het saldo. Vraag licenties aan en zet {{email}} daarna opnieuw op verlengbaar.",
    reasons: { not_renewable: "Niet verlengbaar", no_live_enrolment: "Geen nieuwe of actieve inschrijving", pending: "Licentie nog niet geactiveerd", not_due: "Nog niet aan de beurt", balance_empty: "Geen licenties meer in het saldo" },
  },
  usage: {
    title: "Gebruiksrapport", name: "Naam", limit: "Gebruikerslimiet", used: "Gebruikt", remaining: "Resterend", percent: "Percentage gebruikt", overage: "Overschrijding", export: "Exporteren naar CSV",
    total: "Totaal", open: "Het rapport van {{name}} openen", reuse: "Licentiejaar vanaf {{from}}: {{users}} verschillende actieve gebruikers van maximaal {{cap}}.",
    states: { none: "Geen", minor: "Kleine overschrijding", minor_action_due: "Kleine overschrijding, actie vereist", major: "Grote overschrijding" }, since: "sinds {{date}} ({{days}} werkdagen)",
  },
  users: {
    title: "Gebruikers", search: "Zoeken op e-mailadres", filter: "Licentiestatus", anyStatus: "Elke status", noLicence: "Geen licentie", add: "Gebruiker toevoegen", role: "Rol", release: "Vrijgeven",
    released: "{{email}} vrijgegeven: licentie vrijgegeven, inschrijvingen verlopen, gegevens bewaard.", confirmRelease: "{{email}} vrijgeven? De gegevens blijven bewaard.", added: "{{email}} opgeslagen.",
    licence: "Licentie", licenceStatus: { active: "Actief", pending: "In afwachting", expired: "Verlopen", released: "Vrijgegeven", none: "Geen licentie" }, enrolments: "Inschrijvingen",
    enrolment: "Inschrijving", startsAt: "Begint", endsAt: "Eindigt", noEnrolments: "Geen inschrijvingen.",
    enrolmentStatus: { new: "Nieuw", active: "Actief", expired: "Verlopen" }, details: "Gegevens van {{email}}", created: "Aangemaakt", learnerRole: "Deelnemer", managerRole: "Bedrijfsbeheerder",
    headcountLabel: "Gebruikers van het abonnement", headcount: { users: "{{used}} van {{limit}} gebruikers", licences: "{{used}} van {{limit}} licenties in gebruik", active_users: "{{used}} van {{limit}} actieve gebruikers" },
  },
  access: {
    title: "Toegang", active: "Uw licentie is actief. U hebt toegang tot het platform.", validUntil: "Geldig tot {{date}}.",
    reasons: {
      active: "Uw licentie is actief.", pending: "Uw licentie staat klaar en gaat in wanneer u met uw eerste cursus begint.", expired: "Uw licentie is verlopen.",
      released: "Uw licentie is vrijgegeven.", no_licence: "U hebt nog geen licentie.",
    },
    lost: "U hebt nu geen toegang tot het platform.", whatHappened: "Wat er is gebeurd", expiredOn: "Uw licentie is geëindigd op {{date}}.",
    instructions: "Zo verlengt u", managerSteps: "Ga naar het onderdeel Licenties, kies het tabblad Bestellingen, klik op Licenties aanvragen, vul het aantal benodigde licenties in en klik op Opslaan. Uw accountmanager kent ze toe; u krijgt een e-mail zodra ze klaarstaan om toe te wijzen.",
    learnerSteps: "Vraag uw bedrijfsbeheerder om u een licentie toe te wijzen. U kunt zich weer aanmelden zodra die is toegewezen.", contact: "U kunt ook contact opnemen met uw vaste accountmanager.",
    goOrder: "Licenties aanvragen", notAUser: "Voor {{email}} wordt in deze organisatie geen licentie bijgehouden.",
  },
  vendor: {
    title: "Organisaties", tree: "Organisatieboom", expand: "De organisaties onder {{name}} tonen", collapse: "De organisaties onder {{name}} verbergen", create: "Een organisatie aanmaken",
    kind: "Soort", kinds: { vendor: "Leverancier", partner: "Partner", company: "Bedrijf" }, parent: "Bovenliggende organisatie", policy: "Beleid", editPolicy: "Beleid van {{name}}", created: "{{name}} aangemaakt.",
  },
  policy: {
    title: "Beleid van {{name}}", intro: "Elke instelling wordt geërfd, tenzij deze organisatie haar zelf instelt. Alleen wat u wijzigt wordt verstuurd.", inherited: "Geërfd ({{value}})", setHere: "hier ingesteld",
    saved: "Beleid opgeslagen.", nothingChanged: "Er is niets gewijzigd.", term_months: "Looptijd (maanden)", term_starts: "Looptijd begint", renewal: "Verlenging", counting: "Telling", enforcement: "Handhaving",
    seats_included: "Inbegrepen gebruikers", uses_per_seat: "Gebruik per licentie", tiers: "Staffels (oplopende aantallen, gescheiden door komma's)", notify_emails: "Extra ontvangers (gescheiden door komma's)",
    locale: "Taal van e-mails en exports", time_zone: "Tijdzone van e-mails (IANA-naam, bv. Europe/Amsterdam)", run_access_months: "Uitvoering toegankelijk (maanden; 0 = geen einde)",
    values: { en: "Engels", nl: "Nederlands", assignment: "bij toekenning", activation: "bij activering", manual: "handmatig", automatic: "automatisch", licences: "licenties", active_users: "actieve gebruikers", users: "gebruikers", hard: "streng", soft: "soepel", none: "onbeperkt" },
  },
  notifications: {
    title: "Meldingen", at: "Verstuurd", kind: "Soort", recipients: "Ontvangers", about: "Over",
    kinds: { order_requested: "Bestelling aangevraagd", order_assigned: "Licenties klaar om toe te wijzen", expiry_reminder: "Herinnering: licenties verlopen", expired: "Licenties verlopen", renewal_blocked: "Verlenging geblokkeerd", overage: "Overschrijding", upgrade_due: "Upgrade nodig", renewal_forecast: "Verlengingsoverzicht" },
    delivery: { pending: "nog niet verstuurd", sending: "wordt verstuurd", sent: "gemaild", failed: "mislukt, wordt opnieuw geprobeerd", refused: "geweigerd", suppressed: "niet verstuurd" }, noRecipient: "Geen ontvanger (er is niets verstuurd)",
    count: "{{count}} licenties", users: "{{count}} gebruikers",
    suppressedWhy: { hard_bounce: "het adres kwam onbestelbaar terug: het bestaat niet (een beheerder van de leverancier kan dit opheffen)", complaint: "de ontvanger heeft een melding als spam gemarkeerd (hef het hieronder op om weer te mailen)" },
    omitted: "en nog {{count}}, geteld maar niet gemaild (een melding gaat naar hooguit 50 adressen)",
  },
  suppressions: {
    title: "Adressen die niet gemaild worden", intro: "Na een harde bounce (overal) of een klacht (voor deze organisatie) worden meldingen niet meer naar deze adressen gemaild, tot u dat opheft.",
    none: "Geen enkel adres is uitgesloten.", reason: "Reden", scope: "Waar", since: "Sinds", detail: "Gemeld", clear: "{{email}} opheffen", clearShort: "Opheffen", cleared: "{{email}} wordt weer gemaild.",
    reasons: { hard_bounce: "Harde bounce", complaint: "Klacht" }, scopes: { org: "Deze organisatie", global: "Alle organisaties" },
  },
  audit: { title: "Auditlog", at: "Wanneer", actor: "Wie", onBehalfOf: "Namens", action: "Wat", subject: "Onderwerp" },
  errors: {
    title: "Er ging iets mis", offline: "De verbinding is verbroken. Controleer uw netwerk en probeer het opnieuw.", unauthenticated: "Uw sessie is beëindigd. Meld u opnieuw aan.",
    forbidden: "Uw rol mag dit niet doen.", not_found: "Niet gevonden (of niet voor u zichtbaar).", conflict: "Dit kan in de huidige toestand niet: {{message}}",
    insufficient_licences: "Niet genoeg licenties: {{needed}} nodig, {{available}} beschikbaar. Er is niets gewijzigd.",
    seat_limit_reached: "Alle licenties zijn in gebruik: {{used}} van {{limit}}. Bestel meer licenties om gebruikers toe te voegen.",
    payload_too_large: "Het bestand is te groot voor de console (maximaal 5 MB).", unsupported_media_type: "Dit soort bestand wordt niet geaccepteerd.",
    idempotency_mismatch: "Deze actie is al met andere waarden verstuurd. Begin opnieuw.",
    review_expired: "Deze controle is te oud om te bevestigen: een controle wordt 14 dagen bewaard. Upload het bestand opnieuw.", unavailable: "De dienst is bezet. Probeer het zo opnieuw.",
    internal: "De dienst faalde. Probeer het later opnieuw.", invalid_request: "Het verzoek is geweigerd: {{message}}", invalidField: "Controleer {{field}}: {{message}}", invalidLine: "Regel {{line}} van het bestand: {{message}}",
  },
  yesNo: { true: "Ja", false: "Nee" },
};
export default nl;
