//! A notice as an e-mail: subject, plain text and HTML from the templates of its kind
//! (`templates/{locale}/{kind}.jinja`, each with the blocks `subject`, `text` and `html`), in
//! the org's `locale`, instants in its `time_zone`, links to the console's screens.
//!
//! Each template is loaded twice: as `{locale}/{kind}.txt` (subject and text, nothing escaped)
//! and as `{locale}/{kind}.html` (the HTML block, every value HTML-escaped), so an org called
//! `Smith & Sons` reads as itself in both.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment, State};
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::notice::{Notice, NoticeKind};
use crate::domain::policy::{Locale, Policy};
use crate::domain::zone::Zone;

/// A notice as its recipients read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every template, by locale and kind (compiled in: a function needs no files at run time).
const TEMPLATES: &[(&str, &str)] = &[
    ("en/order_requested", include_str!("templates/en/order_requested.jinja")),
    ("en/order_assigned", include_str!("templates/en/order_assigned.jinja")),
    ("en/order_rejected", include_str!("templates/en/order_rejected.jinja")),
    ("en/expiry_reminder", include_str!("templates/en/expiry_reminder.jinja")),
    ("en/expired", include_str!("templates/en/expired.jinja")),
    ("en/renewal_blocked", include_str!("templates/en/renewal_blocked.jinja")),
    ("en/overage", include_str!("templates/en/overage.jinja")),
    ("en/upgrade_due", include_str!("templates/en/upgrade_due.jinja")),
    ("en/renewal_forecast", include_str!("templates/en/renewal_forecast.jinja")),
    ("nl/order_requested", include_str!("templates/nl/order_requested.jinja")),
    ("nl/order_assigned", include_str!("templates/nl/order_assigned.jinja")),
    ("nl/order_rejected", include_str!("templates/nl/order_rejected.jinja")),
    ("nl/expiry_reminder", include_str!("templates/nl/expiry_reminder.jinja")),
    ("nl/expired", include_str!("templates/nl/expired.jinja")),
    ("nl/renewal_blocked", include_str!("templates/nl/renewal_blocked.jinja")),
    ("nl/overage", include_str!("templates/nl/overage.jinja")),
    ("nl/upgrade_due", include_str!("templates/nl/upgrade_due.jinja")),
    ("nl/renewal_forecast", include_str!("templates/nl/renewal_forecast.jinja")),
];

/// What every message shares: the footer, in text and HTML.
const PARTIALS: &[(&str, &str)] = &[
    ("en/footer.txt", include_str!("templates/en/footer.txt")),
    ("en/footer.html", include_str!("templates/en/footer.html")),
    ("nl/footer.txt", include_str!("templates/nl/footer.txt")),
    ("nl/footer.html", include_str!("templates/nl/footer.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        for (name, source) in TEMPLATES {
            for suffix in ["txt", "html"] {
                env.add_template_owned(format!("{name}.{suffix}"), *source).expect("a template that parses");
            }
        }
        for (name, source) in PARTIALS {
            env.add_template(name, source).expect("a partial that parses");
        }
        env.add_filter("when", when);
        env.add_filter("day", day);
        env.add_filter("month", month);
        env.add_filter("percent", percent);
        env.add_filter("plural", plural);
        env
    })
}

/// The links of a message: the console's screens (`CONSOLE_URL`); none when it is not set.
fn links(console_url: &str, notice: &Notice) -> Value {
    let base = console_url.trim_end_matches('/');
    if base.is_empty() {
        return Value::Null;
    }
    let company = notice.payload["company_id"].as_str().unwrap_or_default();
    json!({
        "licences": format!("{base}/licences/orders"),
        "expired": format!("{base}/licences/expired"),
        "requested_orders": format!("{base}/orders?status=requested&company={company}"),
        "renewals": format!("{base}/renewals"),
        "usage": format!("{base}/usage"),
        "notifications": format!("{base}/notifications"),
    })
}

/// The instant an expiry notice is about: when its first licence ends (`ends_at`), or the
/// earliest lot end it lists.
fn ends_at(payload: &Value) -> Option<String> {
    if let Some(at) = payload["ends_at"].as_str() {
        return Some(at.to_string());
    }
    let lots = payload["lots"].as_array()?;
    lots.iter().filter_map(|l| l["valid_until"].as_str()).min().map(str::to_string)
}

/// `notice` rendered for the org named `org_name` under `policy` (its locale and time zone).
pub fn render(notice: &Notice, org_name: &str, policy: &Policy, console_url: &str) -> Result<Rendered, String> {
    let env = environment();
    let name = format!("{}/{}", policy.locale.as_str(), notice.kind.as_str());
    let context = json!({
        "kind": notice.kind.as_str(),
        "org": { "id": notice.org_id, "name": org_name },
        "n": notice.payload,
        "ends_at": ends_at(&notice.payload),
        "more": more(&notice.payload),
        "links": links(console_url, notice),
        "locale": policy.locale.as_str(),
        "time_zone": policy.time_zone,
        "licence": policy.licence_name.of(policy.locale),
    });
    let block = |suffix: &str, block: &str| -> Result<String, String> {
        let template = env.get_template(&format!("{name}.{suffix}")).map_err(|e| e.to_string())?;
        // `render_captured`, its successor, hands out no mutable state, and a block is rendered
        // from one.
        #[allow(deprecated)]
        let mut state = template.eval_to_state(&context).map_err(|e| format!("{name}: {e}"))?;
        state.render_block(block).map_err(|e| format!("{name} ({block}): {e}"))
    };
    let subject = block("txt", "subject")?.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Rendered { subject, text: tidy(&block("txt", "text")?), html: block("html", "html")?.trim().to_string() })
}

/// How many learners a notice counts beyond the ones it names.
fn more(payload: &Value) -> u64 {
    let named = payload["users"].as_array().map_or(0, |u| u.len() as u64);
    payload["count"].as_u64().unwrap_or(named).saturating_sub(named)
}

/// Plain text as a person writes it: no trailing blanks, at most one empty line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.trim().lines().map(str::trim_end) {
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn locale_of(state: &State) -> Locale {
    match state.lookup("locale").as_ref().and_then(|v| v.as_str()) {
        Some("nl") => Locale::Nl,
        _ => Locale::En,
    }
}

fn zone_of(state: &State) -> Zone {
    state.lookup("time_zone").as_ref().and_then(|v| v.as_str()).and_then(Zone::parse).unwrap_or(Zone::UTC)
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_NL: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

fn month_name(locale: Locale, month0: u32) -> &'static str {
    let names = match locale {
        Locale::En => &MONTHS_EN,
        Locale::Nl => &MONTHS_NL,
    };
    names[month0 as usize % 12]
}

/// A date in words: `15 January 2027`, `15 januari 2027`.
pub fn date_in_words(date: NaiveDate, locale: Locale) -> String {
    use chrono::Datelike;
    format!("{} {} {}", date.day(), month_name(locale, date.month0()), date.year())
}

/// An instant in the org's time zone and words: `15 January 2027, 10:00 CET`.
pub fn instant_in_words(at: DateTime<Utc>, zone: &Zone, locale: Locale) -> String {
    let local = zone.local(at);
    format!("{}, {} {}", date_in_words(local.date(), locale), local.format("%H:%M"), zone.abbreviation(at))
}

/// `{{ instant | when }}`: an RFC 3339 instant in the org's zone and words (as it came when it
/// is not one).
fn when(state: &State, value: String) -> String {
    match DateTime::parse_from_rfc3339(&value) {
        Ok(at) => instant_in_words(at.with_timezone(&Utc), &zone_of(state), locale_of(state)),
        Err(_) => value,
    }
}

/// `{{ date | day }}`: a `YYYY-MM-DD` date in words.
fn day(state: &State, value: String) -> String {
    match NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
        Ok(d) => date_in_words(d, locale_of(state)),
        Err(_) => value,
    }
}

/// `{{ "2027-02" | month }}`: a month in words (`February 2027`).
fn month(state: &State, value: String) -> String {
    match NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d") {
        Ok(d) => {
            use chrono::Datelike;
            format!("{} {}", month_name(locale_of(state), d.month0()), d.year())
        }
        Err(_) => value,
    }
}

/// `{{ n | plural("licence", "licences") }}`: the word for `n` of it (English and Dutch alike:
/// one is singular, any other count plural), so a mail never reads "1 licences".
/// A value that is not a number (absent, null) reads as plural.
fn plural(n: minijinja::Value, one: String, many: String) -> String {
    if n.as_i64() == Some(1) {
        one
    } else {
        many
    }
}

/// `{{ 0.25 | percent }}`: a fraction as a whole percentage (`25%`).
fn percent(value: f64) -> String {
    format!("{}%", (value * 100.0).round() as i64)
}

/// The kinds the templates cover, for tests: every kind in every locale.
pub fn kinds() -> [NoticeKind; 9] {
    NoticeKind::ALL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::PolicySettings;

    fn notice(kind: NoticeKind, payload: Value) -> Notice {
        Notice {
            notice_id: "ntc_1".into(),
            kind,
            org_id: "c".into(),
            created_at: "2027-01-12T09:00:00Z".parse().unwrap(),
            recipients: vec!["boss@c.example".into()],
            recipients_omitted: 0,
            payload,
        }
    }

    fn policy(v: Value) -> Policy {
        Policy::resolve([&serde_json::from_value::<PolicySettings>(v).unwrap()])
    }

    fn reminder() -> Notice {
        notice(
            NoticeKind::ExpiryReminder,
            json!({"expiry_date": "2027-01-15", "count": 3, "users": ["a@c.example", "b@c.example"],
                   "users_truncated": true, "ends_at": "2027-01-15T09:00:00Z", "lots": [], "unissued_lapsing": 0}),
        )
    }

    #[test]
    fn the_vendors_licence_name_counts_the_licences_in_each_language() {
        let names = json!({"licence_name": {
            "en": {"one": "Premium licence", "other": "Premium licences"},
            "nl": {"one": "Premium-licentie", "other": "Premium-licenties"}}});
        let r = render(&reminder(), "Smith & Sons", &policy(names.clone()), "").unwrap();
        assert_eq!(r.subject, "3 Premium licences of Smith & Sons expire on 15 January 2027");
        assert!(r.html.contains("<strong>3</strong> Premium licences of Smith &amp; Sons"), "{}", r.html);
        let mut nl = names;
        nl["locale"] = json!("nl");
        let r = render(&reminder(), "Globex", &policy(nl.clone()), "").unwrap();
        assert!(r.subject.starts_with("3 Premium-licenties van Globex"), "{}", r.subject);
        let mut one = notice(NoticeKind::OrderAssigned, json!({"quantity": 1, "valid_from": "2027-01-15T09:00:00Z"}));
        one.payload["kind"] = json!("increase");
        let r = render(&one, "Globex", &policy(nl), "").unwrap();
        assert!(r.subject.starts_with("1 Premium-licentie "), "{}", r.subject);
    }

    #[test]
    fn an_expiry_reminder_names_the_count_the_learners_the_instant_and_how_to_renew() {
        let r = render(&reminder(), "Smith & Sons", &policy(json!({})), "https://console.example/").unwrap();
        assert_eq!(r.subject, "3 licences of Smith & Sons expire on 15 January 2027");
        assert!(r.text.contains("15 January 2027, 09:00 UTC"), "{}", r.text);
        assert!(r.text.contains("a@c.example") && r.text.contains("and 1 more"), "{}", r.text);
        assert!(r.text.contains("https://console.example/licences/expired"), "{}", r.text);
        assert!(r.html.contains("Smith &amp; Sons") && !r.html.contains("Smith & Sons"), "{}", r.html);
        assert!(!r.text.contains("&amp;"));
    }

    /// A reminder of blocked automatic renewals alone: who, and how many licences are missing,
    /// never "0 licences expire".
    #[test]
    fn a_reminder_of_blocked_renewals_says_how_many_licences_are_missing() {
        let blocked = notice(
            NoticeKind::ExpiryReminder,
            json!({"expiry_date": "2027-01-15", "count": 0, "users": [], "users_truncated": false,
                   "ends_at": "2027-01-15T09:00:00Z", "lots": [], "unissued_lapsing": 0,
                   "renewal_blocked": {"count": 2, "missing": 2, "users": ["a@c.example", "b@c.example"], "users_truncated": false}}),
        );
        let r = render(&blocked, "Globex", &policy(json!({})), "").unwrap();
        assert_eq!(r.subject, "Automatic renewal of 2 learners of Globex is blocked on 15 January 2027");
        assert!(r.text.contains("2 licences short") && r.text.contains("b@c.example"), "{}", r.text);
        assert!(!r.text.contains("0 licences"), "{}", r.text);
        let nl = render(&blocked, "Globex", &policy(json!({"locale": "nl"})), "").unwrap();
        assert_eq!(nl.subject, "Automatische verlenging van 2 deelnemers van Globex geblokkeerd op 15 januari 2027");
        assert!(nl.text.contains("2 licenties tekort") && nl.html.contains("a@c.example"), "{}", nl.text);
    }

    #[test]
    fn a_dutch_org_reads_dutch_in_its_own_time_zone() {
        let p = policy(json!({"locale": "nl", "time_zone": "Europe/Amsterdam"}));
        let r = render(&reminder(), "Globex", &p, "").unwrap();
        assert_eq!(r.subject, "3 licenties van Globex verlopen op 15 januari 2027");
        assert!(r.text.contains("15 januari 2027, 10:00 CET"), "{}", r.text);
        assert!(!r.text.contains("http"), "no console, no links: {}", r.text);
    }

    /// A licence ending at 23:30 UTC on the 15th ends on the 16th in Amsterdam: the notice is of
    /// that day (its `expiry_date` is the org's own date), and the mail says so in both languages.
    #[test]
    fn the_mail_names_the_orgs_own_day_of_an_expiry_near_midnight() {
        let late = notice(
            NoticeKind::Expired,
            json!({"expiry_date": "2027-01-16", "count": 1, "users": ["a@c.example"], "users_truncated": false,
                   "ends_at": "2027-01-15T23:30:00Z", "lots": [], "unissued_lapsing": 0}),
        );
        let nl =
            render(&late, "Globex", &policy(json!({"locale": "nl", "time_zone": "Europe/Amsterdam"})), "").unwrap();
        assert!(nl.subject.contains("16 januari 2027"), "{}", nl.subject);
        assert!(nl.text.contains("16 januari 2027, 00:30 CET") && !nl.text.contains("15 januari"), "{}", nl.text);
        let en = render(&late, "Globex", &policy(json!({"time_zone": "Europe/Amsterdam"})), "").unwrap();
        assert!(en.subject.contains("16 January 2027") && en.text.contains("00:30 CET"), "{}\n{}", en.subject, en.text);
    }

    /// An assigned reduction says seats were removed, never that licences are ready.
    #[test]
    fn an_assigned_reduction_reads_as_a_reduction_in_both_languages() {
        let reduced = notice(
            NoticeKind::OrderAssigned,
            json!({"order_id": "ord_1", "kind": "reduction", "quantity": 5,
                   "lots": [{"lot_id": "lot_1", "valid_until": "2027-01-15T09:00:00Z", "seats": 5}]}),
        );
        let r = render(&reduced, "Globex", &policy(json!({})), "https://console.example").unwrap();
        assert_eq!(r.subject, "5 seats were removed from your licences");
        assert!(r.text.contains("no licence already allocated was taken back"), "{}", r.text);
        assert!(!r.text.contains("ready for allocation"), "{}", r.text);
        let nl = render(&reduced, "Globex", &policy(json!({"locale": "nl"})), "").unwrap();
        assert_eq!(nl.subject, "5 plaatsen zijn van uw licenties afbesteld");
        let requested = notice(
            NoticeKind::OrderRequested,
            json!({"order_id": "ord_1", "kind": "reduction", "quantity": 5, "company_id": "c",
                   "company_name": "Globex", "requested_by": "cm@c.example"}),
        );
        let r = render(&requested, "Partner", &policy(json!({})), "").unwrap();
        assert_eq!(r.subject, "Globex asks to remove 5 seats");
        let nl = render(&requested, "Partner", &policy(json!({"locale": "nl"})), "").unwrap();
        assert_eq!(nl.subject, "Globex bestelt 5 plaatsen af");
    }

    /// Each overage state names its own deadline, back to none included; never the raw state.
    #[test]
    fn each_overage_state_names_its_own_deadline_in_both_languages() {
        let told = |state: &str, locale: &str| {
            let n = notice(
                NoticeKind::Overage,
                json!({"state": state, "since": "2026-06-05", "used": 1070, "limit": 1000, "percent_used": 107.0}),
            );
            render(&n, "Globex", &policy(json!({"locale": locale})), "").unwrap()
        };
        for (state, en, nl) in [
            ("minor", "within 10 business days", "binnen 10 werkdagen"),
            ("minor_action_due", "action is due now", "onderneem nu actie"),
            ("major", "within 24 hours", "binnen 24 uur"),
            ("none", "back within its licences", "weer binnen de licenties"),
        ] {
            let (e, d) = (told(state, "en"), told(state, "nl"));
            assert!(e.text.contains(en) && d.text.contains(nl), "{state}: {} / {}", e.text, d.text);
            assert!(!e.text.contains("minor_action_due") && !e.text.contains("Overage state"), "{}", e.text);
            assert!(!d.text.contains(" je ") && !d.text.contains("minor_action_due"), "{}", d.text);
        }
        assert!(told("major", "en").subject.contains("act within 24 hours"));
    }

    /// An upgrade names the tier, the seats added, their end and the pro-rata share; with no tier
    /// left it says so.
    #[test]
    fn an_upgrade_says_what_was_raised_or_that_no_tier_is_left() {
        let upgrade = |payload: serde_json::Value| {
            render(&notice(NoticeKind::UpgradeDue, payload), "Globex", &policy(json!({})), "").unwrap()
        };
        let raised = upgrade(json!({"since": "2026-06-05", "used": 1070, "limit": 1000, "company_name": "Globex",
            "next_tier": 1250, "raised": 250, "pro_rata_fraction": 0.61, "valid_until": "2027-01-15T09:00:00Z"}));
        assert_eq!(raised.subject, "Globex: upgraded to 1250 seats");
        assert!(
            raised.text.contains("250 seats are added, valid until 15 January 2027, 09:00 UTC")
                && raised.text.contains("(61%)"),
            "{}",
            raised.text
        );
        let none = upgrade(json!({"since": "2026-06-05", "used": 1070, "limit": 1000, "company_name": "Globex",
            "next_tier": null, "raised": null, "pro_rata_fraction": 0.61, "valid_until": null}));
        assert!(none.subject.contains("no higher tier") && none.text.contains("nothing was raised"), "{}", none.text);
    }

    /// A rejection tells the requester why, in their org's language.
    #[test]
    fn a_rejected_order_tells_the_requester_why() {
        let n = notice(
            NoticeKind::OrderRejected,
            json!({"order_id": "ord_1", "company_id": "c", "company_name": "Globex", "quantity": 10, "kind": "purchase",
                   "requested_at": "2026-02-01T08:00:00Z", "requested_by": "cm@c.example", "rejected_by": "am@p.example",
                   "reason": "no budget this year"}),
        );
        let r = render(&n, "Globex", &policy(json!({})), "https://console.example").unwrap();
        assert_eq!(r.subject, "Your order of 10 licences for Globex was rejected");
        assert!(
            r.text.contains("The reason given: no budget this year") && r.text.contains("am@p.example"),
            "{}",
            r.text
        );
        assert!(r.text.contains("https://console.example/licences/orders"), "{}", r.text);
        let nl = render(&n, "Globex", &policy(json!({"locale": "nl"})), "").unwrap();
        assert_eq!(nl.subject, "Uw bestelling van 10 licenties voor Globex is afgewezen");
        assert!(nl.text.contains("De opgegeven reden: no budget this year"), "{}", nl.text);
    }

    /// Dutch mails say "u", as the console does: never "je", "jij" or "jouw".
    #[test]
    fn dutch_mails_say_u() {
        let payload = json!({"order_id": "ord_1", "company_id": "c", "company_name": "C", "quantity": 10, "kind": "purchase",
            "valid_from": "2026-01-15T09:00:00Z", "valid_until": "2027-01-15T09:00:00Z", "expiry_date": "2027-01-15",
            "renewal_date": "2027-01-15", "count": 2, "users": ["a@c.example"], "state": "minor", "since": "2027-01-04",
            "used": 1070, "limit": 1000, "percent_used": 107.0, "next_tier": 1250, "raised": 250, "pro_rata_fraction": 0.5,
            "month": "2027-02", "will_renew": 1, "reason": "r", "requested_at": "2026-01-15T09:00:00Z"});
        for kind in kinds() {
            let r = render(
                &notice(kind, payload.clone()),
                "C",
                &policy(json!({"locale": "nl"})),
                "https://console.example",
            )
            .unwrap();
            for text in [&r.subject, &r.text] {
                let words: Vec<String> = text.split(|c: char| !c.is_alphabetic()).map(str::to_lowercase).collect();
                assert!(!words.iter().any(|w| w == "je" || w == "jij" || w == "jouw"), "{kind:?}: {text}");
            }
        }
    }

    /// One licence is "1 licence", in both languages.
    #[test]
    fn one_is_singular() {
        let one = notice(
            NoticeKind::Expired,
            json!({"expiry_date": "2027-01-15", "count": 1, "users": ["a@c.example"], "users_truncated": false, "lots": []}),
        );
        let en = render(&one, "Globex", &policy(json!({})), "").unwrap();
        assert_eq!(en.subject, "1 licence of Globex expired on 15 January 2027");
        let nl = render(&one, "Globex", &policy(json!({"locale": "nl"})), "").unwrap();
        assert!(nl.subject.starts_with("1 licentie "), "{}", nl.subject);
        let two = notice(
            NoticeKind::Expired,
            json!({"expiry_date": "2027-01-15", "count": 2, "users": [], "users_truncated": false, "lots": []}),
        );
        assert!(render(&two, "Globex", &policy(json!({})), "").unwrap().subject.starts_with("2 licences "));
    }

    #[test]
    fn every_kind_renders_in_every_locale() {
        let payload = json!({"order_id": "ord_1", "company_id": "c", "company_name": "C", "quantity": 10,
            "valid_from": "2026-01-15T09:00:00Z", "valid_until": "2027-01-15T09:00:00Z", "expiry_date": "2027-01-15",
            "renewal_date": "2027-01-15", "count": 2, "users": ["a@c.example"], "state": "major", "since": "2027-01-04",
            "used": 1070, "limit": 1000, "percent_used": 107.0, "next_tier": 1250, "pro_rata_fraction": 0.5,
            "month": "2027-02", "will_renew": 1});
        for locale in ["en", "nl"] {
            for kind in kinds() {
                let r = render(
                    &notice(kind, payload.clone()),
                    "C",
                    &policy(json!({"locale": locale})),
                    "https://x.example",
                )
                .unwrap_or_else(|e| panic!("{locale} {kind:?}: {e}"));
                assert!(
                    !r.subject.is_empty() && r.text.len() > 40 && r.html.starts_with('<'),
                    "{locale} {kind:?}: {r:?}"
                );
            }
        }
    }
}
