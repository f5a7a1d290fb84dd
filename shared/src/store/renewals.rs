//! Users by renewal date: every org's due renewals (GSI3) and one org's forecast (GSI4).

use chrono::{DateTime, Utc};

use super::keys::{self, GSI3, GSI4};
use super::{Error, QuerySpec, SortKey, Store};
use crate::domain::org::Org;
use crate::domain::user::User;

impl Store {
    /// Users whose renewal date has come by `now`, across every org. Users not due are never read.
    pub async fn renewals_due(&self, now: DateTime<Utc>) -> Result<Vec<User>, Error> {
        let bound = format!("{}~", keys::sort_time(now));
        let mut due = Vec::new();
        for shard in 0..keys::DUE_SHARDS {
            let spec = QuerySpec::index(GSI3, format!("RENEW#{shard}"), SortKey::AtMost(bound.clone()));
            due.extend(self.query_all::<User>(&spec).await?);
        }
        Ok(due)
    }

    /// One org's users whose renewal date is at or before `until`.
    pub async fn renewals_until(&self, org_id: &str, until: DateTime<Utc>) -> Result<Vec<User>, Error> {
        let bound = format!("{}~", keys::sort_time(until));
        self.query_all(&QuerySpec::index(GSI4, keys::org_renewals(org_id), SortKey::AtMost(bound))).await
    }

    /// Every org (the monthly export walks them).
    pub async fn all_orgs(&self) -> Result<Vec<Org>, Error> {
        self.query_all(&QuerySpec::index(keys::GSI2, keys::ALL_ORGS.into(), SortKey::Any)).await
    }
}

impl Store {
    /// Records an org's figures of one day (a rerun the same day replaces them).
    pub async fn put_snapshot(&self, snapshot: &crate::domain::usage::Snapshot) -> Result<(), super::StoreError> {
        let item = super::to_item(
            "snapshot",
            snapshot,
            &[(keys::PK, keys::org(&snapshot.org_id)), (keys::SK, format!("SNAPSHOT#{}", snapshot.date))],
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(super::StoreError::from_sdk)?;
        Ok(())
    }

    /// The latest daily snapshots of an org (up to 60, newest first): enough for any overage rule.
    pub async fn snapshots(&self, org_id: &str) -> Result<Vec<crate::domain::usage::Snapshot>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith("SNAPSHOT#".into())).newest_first();
        Ok(self.query(&spec, &super::PageRequest { limit: 60, cursor: None }).await?.items)
    }
}
