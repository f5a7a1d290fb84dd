//! Users by renewal date: every org's due renewals (GSI3) and one org's forecast (GSI4); the
//! daily usage snapshots.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::keys::{self, GSI3, GSI4};
use super::{from_index_item, Error, PageRequest, QuerySpec, SortKey, Store, StoreError, Unreadable};
use crate::domain::org::Org;
use crate::domain::renewal::{self, ForecastRow};
use crate::domain::usage::Snapshot;
use crate::domain::user::User;

impl Store {
    /// Users whose renewal date has come by `now`, across every org, and the items of that index
    /// that could not be read, each with its org. Users not due are never read.
    pub async fn renewals_due(&self, now: DateTime<Utc>) -> Result<(Vec<User>, Vec<Unreadable>), Error> {
        let bound = format!("{}~", keys::sort_time(now));
        let (mut due, mut unreadable) = (Vec::new(), Vec::new());
        for shard in 0..keys::DUE_SHARDS {
            let spec = QuerySpec::index(GSI3, keys::renew_shard(shard), SortKey::AtMost(bound.clone()));
            for item in self.query_all_items(&spec).await? {
                match from_index_item(item) {
                    Ok(user) => due.push(user),
                    Err(broken) => unreadable.push(broken),
                }
            }
        }
        Ok((due, unreadable))
    }

    /// One org's users whose renewal date is at or before `until`.
    pub async fn renewals_until(&self, org_id: &str, until: DateTime<Utc>) -> Result<Vec<User>, Error> {
        let bound = format!("{}~", keys::sort_time(until));
        self.query_all(&QuerySpec::index(GSI4, keys::org_renewals(org_id), SortKey::AtMost(bound))).await
    }

    /// The renewal forecast of `org` for every user whose renewal date is on or before `until`
    /// (the whole day): the users with their enrolments, decided by [`renewal::forecast`] on the
    /// balance as it stands.
    pub async fn renewal_forecast(&self, org: &Org, until: NaiveDate) -> Result<Vec<ForecastRow>, Error> {
        let end: DateTime<Utc> =
            until.and_time(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or_default()).and_utc();
        let users = self.with_logins(&org.org_id, self.renewals_until(&org.org_id, end).await?).await?;
        let mut with_enrolments = Vec::with_capacity(users.len());
        for u in users {
            let enrolments = self.enrolments(&org.org_id, &u.email).await?;
            with_enrolments.push((u, enrolments));
        }
        let policy = self.policy(org).await?;
        let balance = self.balance(&org.org_id, &policy, end).await?;
        Ok(renewal::forecast(with_enrolments, balance.available(end), end))
    }

    /// Every org (the monthly export walks them).
    pub async fn all_orgs(&self) -> Result<Vec<Org>, Error> {
        self.query_all(&QuerySpec::index(keys::GSI2, keys::ALL_ORGS.into(), SortKey::Any)).await
    }
}

impl Store {
    /// Records an org's figures of one day (a rerun the same day replaces them).
    pub async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let item = super::to_item(
            "snapshot",
            snapshot,
            &[(keys::PK, keys::org(&snapshot.org_id)), (keys::SK, keys::snapshot_sk(snapshot.date))],
        )?;
        self.put_item(item).await?;
        Ok(())
    }

    /// The latest daily snapshots of an org (up to 60, newest first): enough for any overage rule.
    pub async fn snapshots(&self, org_id: &str) -> Result<Vec<Snapshot>, Error> {
        let spec =
            QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::snapshots_prefix().into())).newest_first();
        Ok(self.query(&spec, &PageRequest { limit: 60, cursor: None }).await?.items)
    }
}
