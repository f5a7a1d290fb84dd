//! SES's bounce and complaint reports, as the configuration set's event destination puts them
//! on EventBridge's default bus (`source` `aws.ses`, `detail-type` `Email Bounced` or
//! `Email Complaint Received`, `detail` SES's event record: `eventType`, `bounce` or
//! `complaint`, and `mail` with the message's tags). A permanent bounce suppresses each bounced
//! address everywhere; a complaint suppresses each complaining address for the org the message's
//! `org_id` tag names. A transient bounce, and a complaint whose feedback type says the message
//! was not spam, suppress nothing and are reported as ignored. Each (report, address) is
//! recorded once: a replayed event changes nothing ([`Store::record_feedback`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ses::{from_tag_value, NOTICE_TAG, ORG_TAG};
use crate::domain::suppression::{Reason, Report, Scope};
use crate::domain::validate;
use crate::lambda::Refused;
use crate::store::{Store, StoreError};

/// The `source` of SES's events on EventBridge.
pub const SOURCE: &str = "aws.ses";
pub const BOUNCED: &str = "Email Bounced";
pub const COMPLAINED: &str = "Email Complaint Received";

/// A report names at most this many addresses (SES's own limit of recipients a message; the
/// mailer sends one a message), so one event's writes stay few.
pub const MAX_ADDRESSES: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(alias = "notificationType")]
    event_type: String,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
    mail: Mail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<Address>,
    timestamp: DateTime<Utc>,
    feedback_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Address>,
    timestamp: DateTime<Utc>,
    feedback_id: String,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    email_address: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

/// What one SES event says: the addresses to suppress, and what it names but suppresses not
/// (with why).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub kind: &'static str,
    pub message_id: Option<String>,
    pub reports: Vec<Report>,
    pub ignored: Vec<(String, String)>,
}

/// What handling one event did, address by address.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeedbackReport {
    /// `bounce` or `complaint`.
    pub kind: String,
    /// SES's id of the message reported on.
    pub message_id: Option<String>,
    /// Suppressed now: the address, where (`global` or `org`) and under which org.
    pub suppressed: Vec<(String, Scope, String)>,
    /// Recorded by an earlier delivery of the same report: nothing changed.
    pub replayed: Vec<String>,
    /// Named, not suppressed, with why.
    pub ignored: Vec<(String, String)>,
}

/// Whether `payload` is an SES event (the mailer's other events come from the notice bus).
pub fn is_ses_event(payload: &Value) -> bool {
    payload["source"].as_str() == Some(SOURCE)
}

/// The tag `name` of the message, decoded; `Err` when it is there but not ours.
fn tag(mail: &Mail, name: &str) -> Result<Option<String>, Refused> {
    match mail.tags.get(name).and_then(|v| v.first()) {
        None => Ok(None),
        Some(v) => from_tag_value(v)
            .map(Some)
            .ok_or_else(|| Refused(format!("the message's tag {name} ({v:?}) is not a value the mailer writes"))),
    }
}

/// Reads an SES bounce or complaint event as EventBridge delivers it; anything else (another
/// detail-type, a record without its bounce or complaint, a complaint without the `org_id` tag)
/// is refused in words.
pub fn parse(payload: &Value) -> Result<Parsed, Refused> {
    let expected = "expected an SES event from EventBridge (source \"aws.ses\", detail-type \"Email Bounced\" or \"Email Complaint Received\")";
    if !is_ses_event(payload) {
        let source = payload["source"].as_str().unwrap_or("none");
        return Err(Refused(format!("{expected}; this event's source is {source:?}")));
    }
    let detail_type = payload["detail-type"].as_str().unwrap_or("none");
    if detail_type != BOUNCED && detail_type != COMPLAINED {
        return Err(Refused(format!("{expected}; this event's detail-type is {detail_type:?}")));
    }
    let record: Record = serde_json::from_value(payload["detail"].clone())
        .map_err(|e| Refused(format!("{expected}; its detail is not an SES event record: {e}")))?;
    let source_org_id = tag(&record.mail, ORG_TAG)?;
    let notice_id = tag(&record.mail, NOTICE_TAG)?;
    let message_id = record.mail.message_id.clone();
    let mut parsed = Parsed { kind: "bounce", message_id, reports: Vec::new(), ignored: Vec::new() };
    let mut addresses: Vec<(String, Reason, String, DateTime<Utc>, String)> = Vec::new();
    match (record.event_type.as_str(), detail_type, record.bounce, record.complaint) {
        ("Bounce", BOUNCED, Some(b), _) => {
            let subtype = b.bounce_sub_type.unwrap_or_default();
            for a in b.bounced_recipients {
                if b.bounce_type != "Permanent" {
                    let why = format!("a {} bounce ({subtype}) suppresses nothing", b.bounce_type.to_lowercase());
                    parsed.ignored.push((a.email_address, why));
                    continue;
                }
                let said = [a.status, a.diagnostic_code].into_iter().flatten().collect::<Vec<_>>().join(" ");
                let detail = format!("{} {subtype}: {said}", b.bounce_type).trim_end_matches([' ', ':']).to_string();
                addresses.push((a.email_address, Reason::HardBounce, b.feedback_id.clone(), b.timestamp, detail));
            }
        }
        ("Complaint", COMPLAINED, _, Some(c)) => {
            parsed.kind = "complaint";
            let feedback_type = c.complaint_feedback_type.unwrap_or_default();
            for a in c.complained_recipients {
                if feedback_type == "not-spam" {
                    parsed.ignored.push((a.email_address, "the complaint says the message is not spam".into()));
                    continue;
                }
                let detail = if feedback_type.is_empty() { "complaint".to_string() } else { feedback_type.clone() };
                addresses.push((a.email_address, Reason::Complaint, c.feedback_id.clone(), c.timestamp, detail));
            }
            if source_org_id.is_none() && !addresses.is_empty() {
                return Err(Refused(format!(
                    "a complaint about a message without the {ORG_TAG} tag: the mailer tags every message it sends, so this one is not the mailer's"
                )));
            }
        }
        (event_type, _, _, _) => {
            return Err(Refused(format!(
                "{expected}; its detail's eventType {event_type:?} does not match {detail_type:?} or lacks its record"
            )))
        }
    }
    if addresses.len() + parsed.ignored.len() > MAX_ADDRESSES {
        return Err(Refused(format!("a report names at most {MAX_ADDRESSES} addresses")));
    }
    for (raw, reason, feedback_id, at, detail) in addresses {
        let email = match validate::email("emailAddress", &raw) {
            Ok(e) => e,
            Err(e) => {
                parsed.ignored.push((raw, e.to_string()));
                continue;
            }
        };
        if feedback_id.is_empty() || feedback_id.len() > 256 || feedback_id.contains('#') {
            return Err(Refused(format!("the report's feedbackId {feedback_id:?} is not one SES writes")));
        }
        parsed.reports.push(Report {
            email,
            reason,
            feedback_id,
            at,
            detail,
            source_org_id: source_org_id.clone(),
            notice_id: notice_id.clone(),
        });
    }
    Ok(parsed)
}

/// Records what `payload` reports, at `now` (the wall clock: the guards' expiry is about real
/// time); a malformed event is refused, a store failure fails the invocation (Lambda retries,
/// and the replay changes nothing that was recorded).
pub async fn handle(store: &Store, payload: &Value, now: DateTime<Utc>) -> Result<FeedbackReport, FeedbackError> {
    let parsed = parse(payload)?;
    let mut report = FeedbackReport {
        kind: parsed.kind.to_string(),
        message_id: parsed.message_id,
        ignored: parsed.ignored,
        ..Default::default()
    };
    for r in &parsed.reports {
        if store.record_feedback(r, now).await? {
            let org = r.org_id().unwrap_or_default().to_string();
            tracing::warn!(email = %r.email, reason = r.reason.as_str(), scope = ?r.scope(), org_id = %org, "address suppressed");
            report.suppressed.push((r.email.clone(), r.scope(), org));
        } else {
            report.replayed.push(r.email.clone());
        }
    }
    for (email, why) in &report.ignored {
        tracing::info!(%email, why, "SES report: nothing suppressed");
    }
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented samples as EventBridge delivers them (`tests/fixtures/events/`), filled in.
    fn sample(kind: &str, vars: &[(&str, &str)]) -> Value {
        let mut text = match kind {
            "bounce" => include_str!("../../../tests/fixtures/events/eventbridge-ses-bounce.json"),
            _ => include_str!("../../../tests/fixtures/events/eventbridge-ses-complaint.json"),
        }
        .to_string();
        let defaults = [
            ("EMAIL", "Ann@C.example"),
            ("ORG_TAG", "acme_2eco"),
            ("NOTICE_TAG", "ntc_5f1"),
            ("FEEDBACK_ID", "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000"),
            ("CONFIGURATION_SET", "stack-notices"),
            ("BOUNCE_TYPE", "Permanent"),
            ("BOUNCE_SUBTYPE", "General"),
            ("FEEDBACK_TYPE", "abuse"),
        ];
        for (k, v) in vars.iter().chain(defaults.iter()) {
            text = text.replace(&format!("${{{k}}}"), v);
        }
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_hard_bounce_names_the_address_everywhere_with_ses_words_and_the_messages_tags() {
        let p = parse(&sample("bounce", &[])).unwrap();
        assert_eq!((p.kind, p.ignored.len()), ("bounce", 0));
        let r = &p.reports[0];
        assert_eq!((r.email.as_str(), r.reason, r.scope()), ("ann@c.example", Reason::HardBounce, Scope::Global));
        assert_eq!((r.source_org_id.as_deref(), r.notice_id.as_deref()), (Some("acme.co"), Some("ntc_1")));
        assert_eq!(r.detail, "Permanent General: 5.1.1 smtp; 550 5.1.1 user unknown");
        assert_eq!(r.at, "2017-08-05T00:41:02.669Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(p.message_id.as_deref(), Some("EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"));
    }

    #[test]
    fn a_soft_bounce_and_a_not_spam_report_suppress_nothing_and_say_why() {
        let soft =
            parse(&sample("bounce", &[("BOUNCE_TYPE", "Transient"), ("BOUNCE_SUBTYPE", "MailboxFull")])).unwrap();
        assert!(soft.reports.is_empty());
        assert_eq!(soft.ignored[0].1, "a transient bounce (MailboxFull) suppresses nothing");
        let fine = parse(&sample("complaint", &[("FEEDBACK_TYPE", "not-spam")])).unwrap();
        assert!(fine.reports.is_empty() && fine.ignored.len() == 1);
        let abuse = parse(&sample("complaint", &[])).unwrap();
        assert_eq!(
            (abuse.kind, abuse.reports[0].reason, abuse.reports[0].scope()),
            ("complaint", Reason::Complaint, Scope::Org)
        );
        assert_eq!(abuse.reports[0].org_id(), Some("acme.co"));
    }

    #[test]
    fn what_is_not_a_report_of_ours_is_refused_in_words() {
        let mut other = sample("bounce", &[]);
        other["source"] = "seatkeeper".into();
        assert!(parse(&other).unwrap_err().0.contains("source is \"seatkeeper\""));
        let mut delivered = sample("bounce", &[]);
        delivered["detail-type"] = "Email Delivered".into();
        assert!(parse(&delivered).unwrap_err().0.contains("\"Email Delivered\""));
        let mut untagged = sample("complaint", &[]);
        untagged["detail"]["mail"]["tags"].as_object_mut().unwrap().remove("org_id");
        assert!(parse(&untagged).unwrap_err().0.contains("without the org_id tag"));
        let mut hashed = sample("bounce", &[("FEEDBACK_ID", "a#b")]);
        assert!(parse(&hashed).unwrap_err().0.contains("feedbackId"));
        hashed["detail"]["bounce"]["bouncedRecipients"] =
            (0..51).map(|i| serde_json::json!({"emailAddress": format!("a{i}@c.example")})).collect();
        assert!(parse(&hashed).unwrap_err().0.contains("at most 50"));
        let mut bad = sample("bounce", &[("EMAIL", "not an address")]);
        bad["detail"]["mail"]["tags"].as_object_mut().unwrap().remove("org_id");
        let p = parse(&bad).unwrap();
        assert!(p.reports.is_empty() && p.ignored[0].1.contains("not an e-mail address"), "{p:?}");
        assert_eq!(p.reports.len() + p.ignored.len(), 1, "a bounce needs no org tag");
    }
}
