/** English labels: the seeds' own words (002, 004, 001 are English). */
const en = {
  app: { name: "Seatkeeper", skip: "Skip to content", language: "Language", signOut: "Sign out", signedInAs: "Signed in as {{email}} ({{role}}, {{org}})", nav: "Main" },
  roles: { vendor_admin: "vendor admin", partner_manager: "partner manager", company_manager: "company manager", learner: "learner", platform: "platform" },
  common: {
    loading: "Loading…", save: "Save", cancel: "Cancel", close: "Close", next: "Next page", previous: "Previous page", page: "Page {{n}}",
    retry: "Retry", yes: "Yes", no: "No", none: "None", actions: "Actions", email: "E-mail", name: "Name", status: "Status", empty: "Nothing to show.", emptyPage: "Nothing on this page; the next page may have more.",
    all: "All", apply: "Apply", clear: "Clear", back: "Back", org: "Organisation", selected: "{{count}} selected",
  },
  signIn: {
    title: "Sign in", local: "Local sign-in: choose who you are. The local server signs the token.", role: "Role", org: "Organisation id",
    email: "E-mail (optional)", submit: "Sign in", oidc: "Sign in with your organisation's account.", oidcButton: "Sign in",
    expired: "Your session has ended. Please sign in again.", failed: "Sign-in failed: {{reason}}", completing: "Completing sign-in…",
  },
  nav: {
    licences: "Licences", orders: "Requested orders", companies: "Manage company", renewals: "Renewals", usage: "Usage report", users: "Users",
    access: "Access", vendor: "Organisations", notifications: "Notifications", audit: "Audit log",
  },
  manage: { banner: "Manage mode: you are managing {{name}}.", exit: "Exit" },
  licences: {
    title: "Licences", lots: "Licences", noLots: "No licences have been assigned yet. Request licences in the Orders tab.",
    lotTitle: "Lot of {{quantity}}", ofAllocated: "{{used}} of {{seats}} allocated", seats: "Seats", used: "Used", remaining: "Remaining", validUntil: "Valid until",
    validFrom: "Valid from", noEnd: "no end", lotStatus: { active: "Active", expired: "Expired" }, summary: "Usage", limit: "User limit", percentUsed: "Percentage used",
    tabs: "Licence sections", tabOrders: "Orders", tabExpired: "Expired licences", tabImport: "Import allocation",
  },
  orders: {
    request: "Request licences", quantity: "Number of licences", note: "Note (optional)", requested: "Order for {{quantity}} licences requested.",
    requestedAt: "Requested", company: "Company", status: { requested: "Requested", assigned: "Assigned", rejected: "Rejected", cancelled: "Cancelled" },
    noteHeading: "Note", cancelOrder: "Cancel order", none: "No orders.", reason: "Reason", assignedLot: "Lot valid until {{date}}",
  },
  expired: {
    none: "No learners with an expired licence.", selectAll: "Select all", selectOne: "Select {{email}}", allocate: "Allocate licences", expiredOn: "Expired",
    allocated: "{{count}} licences allocated.", alreadyActive: "{{count}} already active.", short: "Not enough licences: {{needed}} needed, {{available}} available. Nothing was allocated.",
    orderMore: "Request {{count}} licences", allExpired: "All expired learners are selected, on every page.", committing: "Allocating licences…", progress: "Progress",
  },
  import: {
    title: "Import allocation", intro: "Upload a CSV or spreadsheet (.xlsx) file of learners. You review the result before anything happens.",
    file: "User spreadsheet file", mode: "Mode", modeRenew: "Renew licences of the learners in the file", modeSync: "Synchronize users: also release the users missing from the file",
    upload: "Upload", column: "Column containing the e-mail", chooseColumn: "Choose the column…", review: "Review", outcome: "Outcome", count: "Learners",
    showRows: "Show rows", hideRows: "Hide rows", showMore: "Show more", shown: "{{shown}} of {{total}} shown", line: "Line", rowsOf: "Rows: {{outcome}}",
    outcomes: { renew: "To renew", already_active: "Already active", unknown: "Unknown", duplicate: "Duplicate", invalid: "Invalid", release: "To be released" },
    available: "Licences available", shortfall: "Shortfall", rows: "Rows in the file",
    shortfallText: "{{shortfall}} more licences are needed: {{renew}} to renew, {{available}} available. Request licences first.",
    syncWarning: "Synchronize: {{count}} users missing from the file will be released (their records are kept).",
    renew: "Renew licences", committing: "Renewing licences…", progress: "Progress", result: "Done: {{allocated}} licences allocated, {{released}} users released.",
    again: "Import another file", failed: "The import failed: {{error}}",
  },
  requested: {
    title: "Requested orders", filters: "Filters", status: "Status", company: "Company", allCompanies: "All companies", from: "From", to: "To",
    assign: "Assign", reject: "Reject", rejectReason: "Reason for rejecting", confirmReject: "Reject order", assigned: "Order assigned: a lot of {{quantity}} licences, valid until {{date}}.",
    rejected: "Order rejected.", orderFor: "order of {{company}} for {{quantity}}",
  },
  companies: {
    title: "Manage company", intro: "Choose the customer company you wish to manage.", manage: "Manage company", add: "Add company", none: "No customer companies yet.",
    orgId: "Id (optional)", created: "{{name}} created.",
  },
  renewals: {
    title: "Renewals", intro: "All learners who may be renewed on or before this date. You can move the date as far ahead as you like.", until: "Renewal date up to",
    licenceDate: "Licence date", renewalDate: "Renewal date", licenceCount: "Number of licences", lastLogin: "Last login", willRenew: "Will renew", whyNot: "Why not",
    renewable: "Renewable", notRenewable: "Not renewable", makeRenewable: "Renewable", switchFor: "Renewable: {{email}}", downloadExcel: "Download Excel", downloadCsv: "Download CSV",
    none: "Nobody is due for renewal up to this date.", updated: "{{count}} users updated.", selectAll: "Select all", select: "Select {{email}}",
    reasons: { not_renewable: "Not renewable", no_live_enrolment: "No new or active enrolment", pending: "Licence not yet activated", not_due: "Not due", balance_empty: "No licences left in the balance" },
  },
  usage: {
    title: "Usage report", name: "Name", limit: "User limit", used: "Used", remaining: "Remaining", percent: "Percentage used", overage: "Overage", export: "Export to CSV",
    total: "Total", open: "Open the report of {{name}}", reuse: "Licence year from {{from}}: {{users}} distinct active users of at most {{cap}}.",
    states: { none: "None", minor: "Minor overage", minor_action_due: "Minor overage, action due", major: "Major overage" }, since: "since {{date}} ({{days}} business days)",
  },
  users: {
    title: "Users", search: "Search by e-mail", filter: "Licence status", anyStatus: "Any status", noLicence: "No licence", add: "Add user", role: "Role", release: "Release",
    released: "{{email}} released: licence released, enrolments expired, records kept.", confirmRelease: "Release {{email}}? Their records are kept.", added: "{{email}} saved.",
    licence: "Licence", licenceStatus: { active: "Active", pending: "Pending", expired: "Expired", released: "Released", none: "No licence" }, enrolments: "Enrolments",
    enrolment: "Enrolment", startsAt: "Starts", endsAt: "Ends", noEnrolments: "No enrolments.",
    enrolmentStatus: { new: "New", active: "Active", expired: "Expired" }, details: "Details of {{email}}", created: "Created", learnerRole: "Learner", managerRole: "Company manager",
  },
  access: {
    title: "Access", active: "Your licence is active. You have access to the platform.", validUntil: "Valid until {{date}}.",
    reasons: {
      active: "Your licence is active.", pending: "Your licence is ready and starts when you start your first course.", expired: "Your licence has expired.",
      released: "Your licence has been released.", no_licence: "You have no licence yet.",
    },
    lost: "You have no access to the platform now.", whatHappened: "What happened", expiredOn: "Your licence ended on {{date}}.",
    instructions: "How to renew", managerSteps: "Go to the Licences section, select the Orders tab, click Request licences, enter the number of licences needed and click Save. Your account manager assigns them; you get an e-mail when they are ready to allocate.",
    learnerSteps: "Ask your company manager to allocate a licence to you. You can sign in again as soon as it is allocated.", contact: "You can also contact your dedicated account manager.",
    goOrder: "Request licences", notAUser: "No licence is kept for {{email}} in this organisation.",
  },
  vendor: {
    title: "Organisations", tree: "Organisation tree", expand: "Show the organisations under {{name}}", collapse: "Hide the organisations under {{name}}", create: "Create an organisation",
    kind: "Kind", kinds: { vendor: "Vendor", partner: "Partner", company: "Company" }, parent: "Parent", policy: "Policy", editPolicy: "Policy of {{name}}", created: "{{name}} created.",
  },
  policy: {
    title: "Policy of {{name}}", intro: "Each knob is inherited unless this organisation sets it. Only what you change is sent.", inherited: "Inherited ({{value}})", setHere: "set here",
    saved: "Policy saved.", nothingChanged: "Nothing changed.", term_months: "Term (months)", term_starts: "Term starts", renewal: "Renewal", counting: "Counting", enforcement: "Enforcement",
    seats_included: "Seats included", uses_per_seat: "Uses per seat", tiers: "Tiers (ascending seat counts, comma separated)", notify_emails: "Extra recipients (comma separated)",
    locale: "Language of e-mails and exports", time_zone: "Time zone of e-mails (IANA name, e.g. Europe/Amsterdam)",
    values: { en: "English", nl: "Dutch", assignment: "at assignment", activation: "at activation", manual: "manual", automatic: "automatic", licences: "licences", active_users: "active users", hard: "hard", soft: "soft", none: "unlimited" },
  },
  notifications: {
    title: "Notifications", at: "Sent", kind: "Kind", recipients: "Recipients", about: "About",
    kinds: { order_requested: "Order requested", order_assigned: "Licences ready for allocation", expiry_reminder: "Expiry reminder", expired: "Licences expired", renewal_blocked: "Renewal blocked", overage: "Overage", upgrade_due: "Upgrade due", renewal_forecast: "Renewal forecast" },
    delivery: { pending: "not sent yet", sending: "sending", sent: "e-mailed", failed: "failed, retried", refused: "refused" }, noRecipient: "No recipient (nothing was sent)",
    count: "{{count}} licences", users: "{{count}} users",
  },
  audit: { title: "Audit log", at: "When", actor: "Who", onBehalfOf: "On behalf of", action: "What", subject: "Subject" },
  errors: {
    title: "Something went wrong", offline: "The connection was lost. Check your network and retry.", unauthenticated: "Your session has ended. Please sign in again.",
    forbidden: "Your role may not do this.", not_found: "Not found (or not yours to see).", conflict: "This cannot be done in its current state: {{message}}",
    insufficient_licences: "Not enough licences: {{needed}} needed, {{available}} available. Nothing was changed.",
    seat_limit_reached: "All seats are in use: {{used}} of {{limit}}. Order more licences to add users.",
    payload_too_large: "The file is too large for the console (5 MB at most).", unsupported_media_type: "This kind of file is not accepted.",
    idempotency_mismatch: "This action was already sent with other values. Start it again.",
    review_expired: "This review is too old to confirm: a review is kept 14 days. Upload the file again.", unavailable: "The service is busy. Retry in a moment.",
    internal: "The service failed. Retry later.", invalid_request: "The request was refused: {{message}}", invalidField: "Check {{field}}: {{message}}", invalidLine: "Line {{line}} of the file: {{message}}",
  },
  yesNo: { true: "Yes", false: "No" },
};
export default en;
export type Messages = typeof en;
