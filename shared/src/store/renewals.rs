//! Users by renewal date: every org's due renewals (GSI3) and one org's forecast (GSI4).

use chrono::{DateTime, Utc};

use super::keys::{self, GSI3, GSI4};
use super::{Error, PageRequest, QuerySpec, SortKey, Store};
use crate::domain::org::Org;
use crate::domain::user::User;

impl Store {
    async fn all_pages(&self, spec: QuerySpec) -> Result<Vec<User>, Error> {
        let mut page = PageRequest { limit: 1000, cursor: None };
        let mut all = Vec::new();
        loop {
            let found = self.query::<User>(&spec, &page).await?;
            all.extend(found.items);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Users whose renewal date has come by `now`, across every org. Users not due are never read.
    pub async fn renewals_due(&self, now: DateTime<Utc>) -> Result<Vec<User>, Error> {
        let bound = format!("{}~", keys::sort_time(now));
        let mut due = Vec::new();
        for shard in 0..keys::DUE_SHARDS {
            due.extend(
                self.all_pages(QuerySpec::index(GSI3, format!("RENEW#{shard}"), SortKey::AtMost(bound.clone())))
                    .await?,
            );
        }
        Ok(due)
    }

    /// One org's users whose renewal date is at or before `until`.
    pub async fn renewals_until(&self, org_id: &str, until: DateTime<Utc>) -> Result<Vec<User>, Error> {
        let bound = format!("{}~", keys::sort_time(until));
        self.all_pages(QuerySpec::index(GSI4, keys::org_renewals(org_id), SortKey::AtMost(bound))).await
    }

    /// Every org (the monthly export walks them).
    pub async fn all_orgs(&self) -> Result<Vec<Org>, Error> {
        let spec = QuerySpec::index(keys::GSI2, keys::ALL_ORGS.into(), SortKey::Any);
        let mut page = PageRequest { limit: 1000, cursor: None };
        let mut all = Vec::new();
        loop {
            let found = self.query::<Org>(&spec, &page).await?;
            all.extend(found.items);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }
}
