//! Suppressed addresses (layout in [`keys`]): an org's under `ORG#{org}/SUPPRESSION#{email}`,
//! the global ones (hard bounces) under `ORG#vendor/SUPPRESSION_GLOBAL#{email}`; and the guard
//! of each SES report recorded (`FEEDBACK#{feedback_id}#{email}`, expiring), written in the
//! same transaction as the suppression so a replayed event changes nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};

use super::keys::{self, PK, SK};
use super::{n, put_new, s, Error, Item, Page, PageRequest, QuerySpec, Read, SortKey, Store, StoreError};
use crate::domain::org::VENDOR_ID;
use crate::domain::suppression::{Report, Scope, Suppression};

/// How long the guard of a recorded report is kept: longer than any redelivery can come (an
/// EventBridge rule retries for up to a day, Lambda's asynchronous retries for six hours, and a
/// dead-letter queue keeps an event fourteen days before someone sends it again).
pub const FEEDBACK_GUARD_DAYS: i64 = 30;

fn sk_of(scope: Scope, email: &str) -> String {
    match scope {
        Scope::Org => keys::suppression_sk(email),
        Scope::Global => keys::global_suppression_sk(email),
    }
}

impl Store {
    /// Which of `emails` may not be mailed for `org_id`: each one's suppression for the org, or
    /// its global one (preferred), two keys an address in one round trip or a few. Read
    /// eventually consistent (half the capacity): a report recorded a moment ago may be missed
    /// by a send already under way, as it would be by one a moment earlier.
    pub async fn suppressed(
        &self,
        org_id: &str,
        emails: &[String],
    ) -> Result<HashMap<String, Suppression>, StoreError> {
        if emails.is_empty() {
            return Ok(HashMap::new());
        }
        let (own, global) = (keys::org(org_id), keys::org(VENDOR_ID));
        let org_sks: Vec<String> = emails.iter().map(|e| keys::suppression_sk(e)).collect();
        let global_sks: Vec<String> = emails.iter().map(|e| keys::global_suppression_sk(e)).collect();
        let mut wanted: Vec<(String, &str)> = org_sks.iter().map(|sk| (own.clone(), sk.as_str())).collect();
        wanted.extend(global_sks.iter().map(|sk| (global.clone(), sk.as_str())));
        let found: Vec<Suppression> = self.get_many_read(wanted, Read::Eventual).await?;
        let mut by_email: HashMap<String, Suppression> = HashMap::new();
        for s in found {
            // Another org's own suppressions never reach here: the keys read are the org's and
            // the vendor's global ones (on the vendor org its own are read as its own).
            let holds = s.scope == Scope::Global || s.org_id == org_id;
            if !holds {
                continue;
            }
            match by_email.get(&s.email) {
                Some(kept) if kept.scope == Scope::Global => {}
                _ => {
                    by_email.insert(s.email.clone(), s);
                }
            }
        }
        Ok(by_email)
    }

    /// What `org` holds of `email`: its own suppression, and on the vendor org the global one.
    pub async fn suppressions_of(&self, org_id: &str, email: &str) -> Result<Vec<Suppression>, StoreError> {
        let own = keys::suppression_sk(email);
        let global = keys::global_suppression_sk(email);
        let mut wanted = vec![(keys::org(org_id), own.as_str())];
        if org_id == VENDOR_ID {
            wanted.push((keys::org(org_id), global.as_str()));
        }
        let mut found: Vec<Suppression> = self.get_many(wanted).await?;
        found.sort_by_key(|s| s.scope == Scope::Org);
        Ok(found)
    }

    /// An org's suppressions, by address (the vendor's: the global ones too).
    pub async fn suppressions(&self, org_id: &str, page: &PageRequest) -> Result<Page<Suppression>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::suppressions_prefix().into()));
        self.query(&spec, page).await
    }

    /// Records one address of an SES report: the report's guard (new, expiring) and the
    /// suppression (created, or its latest report and count updated) in one transaction.
    /// `false`: this report was recorded before (a replay) and nothing changed.
    pub async fn record_feedback(&self, report: &Report, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let org_id = report
            .org_id()
            .ok_or_else(|| StoreError::Other(format!("a complaint about {} names no org", report.email)))?;
        let pk = keys::org(org_id);
        let guard: Item = HashMap::from([
            (PK.to_string(), s(pk.clone())),
            (SK.to_string(), s(keys::feedback_sk(&report.feedback_id, &report.email))),
            (keys::TYPE.to_string(), s("feedback")),
            ("email".to_string(), s(report.email.clone())),
            ("reason".to_string(), s(report.reason.as_str())),
            ("at".to_string(), s(keys::sort_time(report.at))),
            (keys::EXPIRES_AT.to_string(), n((now + Duration::days(FEEDBACK_GUARD_DAYS)).timestamp())),
        ]);
        let mut set = vec![
            "#type = :type",
            "#email = :email",
            "#org = :org",
            "#scope = :scope",
            "#reason = :reason",
            "#since = if_not_exists(#since, :at)",
            "#last = :at",
            "#reports = if_not_exists(#reports, :zero) + :one",
            "#detail = :detail",
        ];
        let mut names = vec![
            ("#type", keys::TYPE),
            ("#email", "email"),
            ("#org", "org_id"),
            ("#scope", "scope"),
            ("#reason", "reason"),
            ("#since", "since"),
            ("#last", "last_at"),
            ("#reports", "reports"),
            ("#detail", "detail"),
        ];
        let scope = serde_json::to_value(report.scope()).ok().and_then(|v| v.as_str().map(str::to_string));
        let mut values = vec![
            (":type", s("suppression")),
            (":email", s(report.email.clone())),
            (":org", s(org_id)),
            (":scope", s(scope.unwrap_or_default())),
            (":reason", s(report.reason.as_str())),
            (":at", s(report.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
            (":zero", n(0)),
            (":one", n(1)),
            (":detail", s(report.detail.clone())),
        ];
        if let Some(org) = &report.source_org_id {
            set.push("#src = :src");
            names.push(("#src", "source_org_id"));
            values.push((":src", s(org.clone())));
        }
        if let Some(notice) = &report.notice_id {
            set.push("#ntc = :ntc");
            names.push(("#ntc", "notice_id"));
            values.push((":ntc", s(notice.clone())));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk_of(report.scope(), &report.email)))
            .update_expression(format!("SET {}", set.join(", ")))
            .set_expression_attribute_names(Some(names.into_iter().map(|(k, v)| (k.into(), v.into())).collect()))
            .set_expression_attribute_values(Some(values.into_iter().map(|(k, v)| (k.into(), v)).collect()))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let writes = vec![put_new(&self.table, guard)?, TransactWriteItem::builder().update(update).build()];
        match self.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(failed)) if failed == [0] => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The delete of a cleared suppression, on the condition that it is still there.
    pub(crate) fn clear_suppression(&self, cleared: &Suppression) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(keys::org(&cleared.org_id)))
            .key(SK, s(sk_of(cleared.scope, &cleared.email)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
