//! Policies (docs/domain.md#policies): set per org by the vendor, inherited from the ancestors; the nearest
//! org that sets a knob wins, and a knob nobody sets has its default.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{validate, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermStarts {
    Assignment,
    Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Renewal {
    Manual,
    Automatic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    Licences,
    ActiveUsers,
    /// Every user with access (not released) counts, licensed or not, as a subscription of a number of users does.
    Users,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    Hard,
    Soft,
}

/// How often a seat may pass to another user in its licence year: `"none"` (no cap: a released
/// seat returns to its lot) or a number N (a lot of Q seats issues at most N × Q licences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UsesPerSeat {
    Capped(u32),
    Unlimited(Unlimited),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlimited {
    None,
}

impl UsesPerSeat {
    pub fn cap(self) -> Option<u32> {
        match self {
            UsesPerSeat::Capped(n) => Some(n),
            UsesPerSeat::Unlimited(_) => None,
        }
    }
}

/// The language of an org's e-mails (and exports): `en` or `nl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    En,
    Nl,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Nl => "nl",
        }
    }
}

/// What the vendor calls one licence and several, in one language ("Premium licence",
/// "Premium licences").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceName {
    pub one: String,
    pub other: String,
}

/// The most characters a form of `licence_name` holds (it stands in headings and subjects).
pub const MAX_LICENCE_NAME_CHARS: usize = 40;

/// `licence_name` as an org sets it: each language optional, inherited one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<LicenceName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nl: Option<LicenceName>,
}

/// `licence_name` resolved: both languages, the defaults where nobody named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceNaming {
    pub en: LicenceName,
    pub nl: LicenceName,
}

impl Default for LicenceNaming {
    fn default() -> Self {
        let name = |one: &str, other: &str| LicenceName { one: one.into(), other: other.into() };
        LicenceNaming { en: name("licence", "licences"), nl: name("licentie", "licenties") }
    }
}

impl LicenceNaming {
    /// The name in `locale`.
    pub fn of(&self, locale: Locale) -> &LicenceName {
        match locale {
            Locale::En => &self.en,
            Locale::Nl => &self.nl,
        }
    }
}

impl LicenceNames {
    /// Each form trimmed, 1 to [`MAX_LICENCE_NAME_CHARS`] characters, no control characters.
    fn validated(self) -> Result<Self, DomainError> {
        let clean = |name: Option<LicenceName>, lang: &str| -> Result<Option<LicenceName>, DomainError> {
            let Some(name) = name else { return Ok(None) };
            let form = |v: String, which: &str| {
                let v = v.trim().to_string();
                let chars = v.chars().count();
                if chars == 0 || chars > MAX_LICENCE_NAME_CHARS || v.chars().any(char::is_control) {
                    let field = format!("licence_name.{lang}.{which}");
                    let message = format!("must be 1 to {MAX_LICENCE_NAME_CHARS} characters, on one line");
                    return Err(range(&field, &message, 1, MAX_LICENCE_NAME_CHARS as u32));
                }
                Ok(v)
            };
            Ok(Some(LicenceName { one: form(name.one, "one")?, other: form(name.other, "other")? }))
        };
        Ok(LicenceNames { en: clean(self.en, "en")?, nl: clean(self.nl, "nl")? })
    }

    fn merged_with(&self, newer: &LicenceNames) -> LicenceNames {
        LicenceNames {
            en: newer.en.clone().or_else(|| self.en.clone()),
            nl: newer.nl.clone().or_else(|| self.nl.clone()),
        }
    }
}

/// The time zone instants are shown in (e-mails), an IANA name; `UTC` unless set.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// What one org sets itself (every knob optional). Stored on the org item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_starts: Option<TermStarts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<Renewal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counting: Option<Counting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<Enforcement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats_included: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_per_seat: Option<UsesPerSeat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_emails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// An IANA time zone name (`Europe/Amsterdam`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How many months an enrolment sent without `ends_at` stays live after it became active
    /// (0: open-ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_access_months: Option<u32>,
    /// How many hours before an expiry its reminder goes out: one of [`REMINDER_LEAD_TIMES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_hours: Option<u32>,
    /// What the vendor calls its licences, per language ([`LicenceNames`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_name: Option<LicenceNames>,
}

/// The reminder lead times a policy may name, in hours. A small set, none above 72: the expire
/// sweep reads the due index 72 hours ahead, so every value costs the sweep nothing more.
pub const REMINDER_LEAD_TIMES: [u32; 3] = [24, 48, 72];

/// A knob outside its range, with the bounds (`details.min`, `details.max`).
fn range(field: &str, message: &str, min: u32, max: u32) -> DomainError {
    DomainError::invalid_as(field, "range", message, json!({ "min": min, "max": max }))
}

/// The policy in force for an org, every knob resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub term_months: u32,
    pub term_starts: TermStarts,
    pub renewal: Renewal,
    pub counting: Counting,
    pub enforcement: Enforcement,
    pub seats_included: u32,
    pub uses_per_seat: UsesPerSeat,
    pub tiers: Vec<u32>,
    pub notify_emails: Vec<String>,
    pub locale: Locale,
    pub time_zone: String,
    pub run_access_months: u32,
    pub reminder_hours: u32,
    /// Policies resolved before the knob was there read as the defaults.
    #[serde(default)]
    pub licence_name: LicenceNaming,
}

/// A course run is open this many months after its start unless the platform says otherwise
/// ("een uitvoering standaard een jaar toegankelijk").
pub const DEFAULT_RUN_ACCESS_MONTHS: u32 = 12;

impl PolicySettings {
    /// Checks a caller's settings and normalises them (e-mails lower-cased, tiers ascending).
    pub fn validated(mut self) -> Result<Self, DomainError> {
        if let Some(m) = self.term_months {
            if !(1..=120).contains(&m) {
                return Err(range("term_months", "must be between 1 and 120", 1, 120));
            }
        }
        if let Some(n) = self.seats_included {
            if n > 1_000_000 {
                return Err(range("seats_included", "must be at most 1000000", 0, 1_000_000));
            }
        }
        if self.run_access_months.is_some_and(|m| m > 120) {
            return Err(range("run_access_months", "must be between 0 (open-ended) and 120", 0, 120));
        }
        if self.reminder_hours.is_some_and(|h| !REMINDER_LEAD_TIMES.contains(&h)) {
            let values = json!({ "values": "24, 48, 72" });
            return Err(DomainError::invalid_as("reminder_hours", "one_of", "must be 24, 48 or 72", values));
        }
        if let Some(UsesPerSeat::Capped(n)) = self.uses_per_seat {
            if !(1..=1000).contains(&n) {
                return Err(range("uses_per_seat", "must be \"none\" or a number between 1 and 1000", 1, 1000));
            }
        }
        if let Some(tiers) = &self.tiers {
            if tiers.len() > 100 || tiers.contains(&0) || tiers.windows(2).any(|w| w[0] >= w[1]) {
                return Err(DomainError::invalid_as(
                    "tiers",
                    "tiers",
                    "must be at most 100 positive seat counts in ascending order",
                    json!({ "max": 100 }),
                ));
            }
        }
        if let Some(emails) = self.notify_emails.take() {
            if emails.len() > 50 {
                return Err(DomainError::invalid_as(
                    "notify_emails",
                    "too_many",
                    "at most 50 addresses",
                    json!({ "max": 50 }),
                ));
            }
            let mut clean =
                emails.iter().map(|e| validate::email("notify_emails", e)).collect::<Result<Vec<_>, _>>()?;
            clean.sort();
            clean.dedup();
            self.notify_emails = Some(clean);
        }
        if let Some(names) = self.licence_name.take() {
            self.licence_name = Some(names.validated()?);
        }
        if let Some(zone) = &self.time_zone {
            let parsed = super::zone::Zone::parse(zone).ok_or_else(|| {
                let message = "must be an IANA time zone name such as Europe/Amsterdam or UTC";
                DomainError::invalid_as("time_zone", "time_zone", message, json!({}))
            })?;
            self.time_zone = Some(parsed.name().to_string());
        }
        Ok(self)
    }

    /// `self` with every knob that `newer` sets replaced.
    pub fn merged_with(&self, newer: &PolicySettings) -> PolicySettings {
        PolicySettings {
            term_months: newer.term_months.or(self.term_months),
            term_starts: newer.term_starts.or(self.term_starts),
            renewal: newer.renewal.or(self.renewal),
            counting: newer.counting.or(self.counting),
            enforcement: newer.enforcement.or(self.enforcement),
            seats_included: newer.seats_included.or(self.seats_included),
            uses_per_seat: newer.uses_per_seat.or(self.uses_per_seat),
            tiers: newer.tiers.clone().or_else(|| self.tiers.clone()),
            notify_emails: newer.notify_emails.clone().or_else(|| self.notify_emails.clone()),
            locale: newer.locale.or(self.locale),
            time_zone: newer.time_zone.clone().or_else(|| self.time_zone.clone()),
            run_access_months: newer.run_access_months.or(self.run_access_months),
            reminder_hours: newer.reminder_hours.or(self.reminder_hours),
            licence_name: match (&self.licence_name, &newer.licence_name) {
                (Some(old), Some(new)) => Some(old.merged_with(new)),
                (old, new) => new.clone().or_else(|| old.clone()),
            },
        }
    }
}

impl Policy {
    /// The org's time zone (its `time_zone`, checked when it was set; UTC otherwise): the zone
    /// its notices' dates are its own days in.
    pub fn zone(&self) -> super::zone::Zone {
        super::zone::Zone::parse(&self.time_zone).unwrap_or(super::zone::Zone::UTC)
    }

    /// Resolves the settings of an org's chain, root first and the org itself last.
    pub fn resolve<'a>(chain: impl IntoIterator<Item = &'a PolicySettings>) -> Policy {
        Self::resolve_for(false, chain)
    }

    /// [`Policy::resolve`] for an org stored before course runs had a default access
    /// (`runs_open_ended`, see `Org::runs_open_ended`): while nobody in its chain sets
    /// `run_access_months`, it is 0 (open-ended), as it was.
    pub fn resolve_for<'a>(runs_open_ended: bool, chain: impl IntoIterator<Item = &'a PolicySettings>) -> Policy {
        let chain: Vec<&PolicySettings> = chain.into_iter().collect();
        // `notify_emails` is the vendor's copy of this org's own notices: never inherited.
        let own_copy = chain.last().and_then(|own| own.notify_emails.clone());
        let s = chain.into_iter().fold(PolicySettings::default(), |acc, next| acc.merged_with(next));
        let unset_runs = if runs_open_ended { 0 } else { DEFAULT_RUN_ACCESS_MONTHS };
        let term_starts = s.term_starts.unwrap_or(TermStarts::Assignment);
        Policy {
            term_months: s.term_months.unwrap_or(12),
            term_starts,
            renewal: s.renewal.unwrap_or(Renewal::Manual),
            counting: s.counting.unwrap_or(Counting::Licences),
            enforcement: s.enforcement.unwrap_or(Enforcement::Hard),
            seats_included: s.seats_included.unwrap_or(0),
            // Under activation every licence issued is spent for good (docs/domain.md#policies).
            uses_per_seat: s.uses_per_seat.unwrap_or(match term_starts {
                TermStarts::Assignment => UsesPerSeat::Unlimited(Unlimited::None),
                TermStarts::Activation => UsesPerSeat::Capped(1),
            }),
            tiers: s.tiers.unwrap_or_default(),
            notify_emails: own_copy.unwrap_or_default(),
            locale: s.locale.unwrap_or_default(),
            time_zone: s.time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string()),
            run_access_months: s.run_access_months.unwrap_or(unset_runs),
            reminder_hours: s.reminder_hours.unwrap_or(72),
            licence_name: {
                let (set, default) = (s.licence_name.unwrap_or_default(), LicenceNaming::default());
                LicenceNaming { en: set.en.unwrap_or(default.en), nl: set.nl.unwrap_or(default.nl) }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: serde_json::Value) -> PolicySettings {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_licence_name_is_inherited_language_by_language_and_checked() {
        let premium = json!({"one": " Premium licence ", "other": "Premium licences"});
        let vendor = settings(json!({"licence_name": {"en": premium}})).validated().unwrap();
        let company = settings(json!({"licence_name": {"nl": {"one": "Plaats", "other": "Plaatsen"}}}));
        let p = Policy::resolve([&vendor, &company.validated().unwrap()]);
        assert_eq!(
            (p.licence_name.en.one.as_str(), p.licence_name.en.other.as_str()),
            ("Premium licence", "Premium licences")
        );
        assert_eq!(p.licence_name.of(Locale::Nl).other, "Plaatsen");
        let d = Policy::resolve([]).licence_name;
        assert_eq!((d.en.other.as_str(), d.nl.other.as_str()), ("licences", "licenties"));
        for bad in [
            json!({"en": {"one": "", "other": "x"}}),
            json!({"nl": {"one": "a\nb", "other": "x"}}),
            json!({"en": {"one": "x", "other": "y".repeat(41)}}),
        ] {
            let err = settings(json!({ "licence_name": bad })).validated().unwrap_err();
            assert!(err.to_string().starts_with("licence_name."), "{err}");
        }
        assert!(serde_json::from_value::<PolicySettings>(json!({"licence_name": {"fr": premium}})).is_err());
        let old: Policy = serde_json::from_value({
            let mut v = serde_json::to_value(Policy::resolve([])).unwrap();
            v.as_object_mut().unwrap().remove("licence_name");
            v
        })
        .unwrap();
        assert_eq!(old.licence_name, LicenceNaming::default(), "a policy stored before the knob reads the defaults");
    }

    #[test]
    fn defaults_come_first_in_the_table() {
        let p = Policy::resolve([]);
        assert_eq!(p.term_months, 12);
        assert_eq!(p.term_starts, TermStarts::Assignment);
        assert_eq!(p.renewal, Renewal::Manual);
        assert_eq!(p.counting, Counting::Licences);
        assert_eq!(p.enforcement, Enforcement::Hard);
        assert_eq!(p.seats_included, 0);
        assert_eq!(p.uses_per_seat.cap(), None);
        assert_eq!((p.locale, p.time_zone.as_str()), (Locale::En, "UTC"));
    }

    #[test]
    fn locale_and_time_zone_are_inherited_and_the_zone_must_be_known() {
        let vendor = settings(json!({"locale": "nl", "time_zone": "Europe/Amsterdam"}));
        let company = settings(json!({"time_zone": "America/New_York"})).validated().unwrap();
        let p = Policy::resolve([&vendor, &company]);
        assert_eq!((p.locale, p.time_zone.as_str()), (Locale::Nl, "America/New_York"));
        let err = settings(json!({"time_zone": "Mars/Olympus"})).validated().unwrap_err();
        assert!(err.to_string().starts_with("time_zone"), "{err}");
        // Any case is taken, and stored as the database spells the name.
        let lower = settings(json!({"time_zone": "europe/amsterdam"})).validated().unwrap();
        assert_eq!(lower.time_zone.as_deref(), Some("Europe/Amsterdam"));
        assert!(serde_json::from_value::<PolicySettings>(json!({"locale": "fr"})).is_err());
    }

    #[test]
    fn a_run_is_open_a_year_by_default_and_open_ended_for_orgs_stored_before_until_someone_sets_it() {
        assert_eq!(Policy::resolve([]).run_access_months, 12);
        assert_eq!(Policy::resolve_for(true, []).run_access_months, 0, "an org stored before");
        let vendor = settings(json!({"run_access_months": 18}));
        assert_eq!(Policy::resolve_for(true, [&vendor]).run_access_months, 18, "opted in from above");
        let off = settings(json!({"run_access_months": 0}));
        assert_eq!(Policy::resolve([&vendor, &off]).run_access_months, 0);
        let err = settings(json!({"run_access_months": 121})).validated().unwrap_err();
        assert!(err.to_string().starts_with("run_access_months"), "{err}");
    }

    #[test]
    fn the_nearest_org_wins_and_unset_knobs_are_inherited() {
        let vendor = settings(json!({"term_months": 24, "counting": "active_users"}));
        let partner = settings(json!({"term_months": 6}));
        let company = settings(json!({"enforcement": "soft"}));
        let p = Policy::resolve([&vendor, &partner, &company]);
        assert_eq!(p.term_months, 6);
        assert_eq!(p.counting, Counting::ActiveUsers);
        assert_eq!(p.enforcement, Enforcement::Soft);
    }

    /// `notify_emails` is the vendor's copy of one org's own notices: a partner's or the
    /// vendor's list reaches no company below it.
    #[test]
    fn notify_emails_are_not_inherited_and_the_reminder_is_72_hours_unless_set() {
        let vendor = settings(json!({"notify_emails": ["copy@vendor.example"], "reminder_hours": 24}));
        let company = settings(json!({}));
        let p = Policy::resolve([&vendor, &company]);
        assert!(p.notify_emails.is_empty(), "{p:?}");
        assert_eq!(p.reminder_hours, 24, "the reminder's lead time is inherited");
        assert_eq!(Policy::resolve([&vendor]).notify_emails, vec!["copy@vendor.example".to_string()]);
        assert_eq!(Policy::resolve([]).reminder_hours, 72);
    }

    #[test]
    fn activation_spends_every_licence_unless_told_otherwise() {
        let p = Policy::resolve([&settings(json!({"term_starts": "activation"}))]);
        assert_eq!(p.uses_per_seat.cap(), Some(1));
        let p = Policy::resolve([&settings(json!({"term_starts": "activation", "uses_per_seat": "none"}))]);
        assert_eq!(p.uses_per_seat.cap(), None);
        let p = Policy::resolve([&settings(json!({"uses_per_seat": 3}))]);
        assert_eq!(p.uses_per_seat.cap(), Some(3));
    }

    #[test]
    fn bad_settings_name_their_field() {
        let err = settings(json!({"term_months": 0})).validated().unwrap_err();
        assert!(err.to_string().starts_with("term_months"));
        let err = settings(json!({"tiers": [50, 25]})).validated().unwrap_err();
        assert!(err.to_string().starts_with("tiers"));
        let err = settings(json!({"reminder_hours": 36})).validated().unwrap_err();
        assert!(err.to_string().starts_with("reminder_hours"), "{err}");
        let err = settings(json!({"notify_emails": ["nope"]})).validated().unwrap_err();
        assert!(err.to_string().starts_with("notify_emails"));
        assert!(serde_json::from_value::<PolicySettings>(json!({"colour": "red"})).is_err());
    }
}
