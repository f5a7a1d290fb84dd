//! What a table holds before it serves anyone: the vendor root (`ORG#vendor`), and a case guard
//! (`ORGID#{folded id}`) for every org. The local server runs this at every start, the tests on
//! every table they create, and in AWS the stack's `TableSetup` custom resource runs it through
//! the tenant-admin function at the deployment that creates it (`crate::deploy`). It may run any
//! number of times, several at once too: every write is conditional, and a second run changes
//! nothing.
//!
//! A table whose `ORG#vendor` holds an org that is not the vendor root (a partner created an org
//! with the vendor's id before the vendor was stored, on a table of an earlier version) is not set
//! up: the start or the deployment stops with [`SetUpError::NotTheVendor`], which says what is
//! there and what to do.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SubsecRound, Utc};
use futures::stream::{self, StreamExt};

use super::keys::{self, GSI2};
use super::records::OrgIdGuard;
use super::{Error, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::change::{Change, Decision};
use crate::domain::contacts;
use crate::domain::org::{folded_id, Org, OrgKind, VENDOR_ID};
use crate::domain::policy::PolicySettings;
use crate::domain::seats::CounterChange;

/// Case guards written at once while a table is set up.
const GUARDS_IN_FLIGHT: usize = 16;

/// What a setup found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetUp {
    /// Whether this run stored the vendor root (`false`: it was stored already).
    pub vendor_written: bool,
    /// Orgs whose case guard is in place (written now, or found).
    pub guarded: usize,
    /// Orgs stored before guards existed whose ids are equal ignoring case, as (the id the guard
    /// names, the other id): both stay as they are, and no third spelling can be created.
    pub case_clashes: Vec<(String, String)>,
    /// Orgs stored before course runs had a default access, marked by this run to keep their
    /// runs open-ended (migration [`RUN_ACCESS`]; 0 on a new table, and once it is recorded).
    pub runs_open_ended: usize,
    /// Companies whose users with access this run counted (migration [`USERS_COUNTED`]; 0 on a
    /// new table, and once it is recorded).
    pub users_counted: usize,
    /// Orgs whose own `notify_emails` this run made contacts receiving every topic (migration
    /// [`NOTIFY_EMAILS_MOVED`]; 0 on a new table, and once it is recorded).
    pub notify_emails_moved: usize,
    /// Live lots stored before the lots were indexed by their end, indexed by this run
    /// (migration [`LOTS_BY_END`]; 0 on a new table, and once it is recorded).
    pub lots_indexed: usize,
    /// Enrolments stored before the index by learning experience, indexed by this run
    /// (migration [`ENROLMENTS_BY_ID`]; 0 on a new table, and once it is recorded).
    pub enrolments_indexed: usize,
}

/// The migration that indexed every enrolment by its learning experience ("Enrolments > All").
pub const ENROLMENTS_BY_ID: &str = "enrolments_by_id";

/// The migration that indexed every live lot by its end, under its company's parent and the
/// vendor (the renewals ahead; store/keys.rs).
pub const LOTS_BY_END: &str = "lots_by_end";

/// The migration that made each org's own `notify_emails` its contacts receiving everything:
/// since contacts, the knob is only the vendor's copy of one org's notices, never inherited.
pub const NOTIFY_EMAILS_MOVED: &str = "notify_emails_to_contacts";

/// The migration that counted every company's users with access (`counting = users`).
pub const USERS_COUNTED: &str = "users_with_access";

/// Companies whose users are counted at once by that migration.
const COUNTS_IN_FLIGHT: usize = 8;

/// The migration that gave course runs a default access (`run_access_months`).
pub const RUN_ACCESS: &str = "run_access_months";

#[derive(Debug, thiserror::Error)]
pub enum SetUpError {
    /// `ORG#vendor` holds an org that is not the vendor root.
    #[error("{0}")]
    NotTheVendor(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Error> for SetUpError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => SetUpError::Store(s),
            other => SetUpError::Store(StoreError::Other(other.to_string())),
        }
    }
}

impl Store {
    /// Sets the table up: stores the vendor root unless it is there (refusing a table whose
    /// `ORG#vendor` holds another org), then gives every org stored before case guards existed
    /// its guard.
    pub async fn set_up(&self, now: DateTime<Utc>) -> Result<SetUp, SetUpError> {
        // Stored to the second, as the API shows instants.
        let vendor_written = self.store_vendor(now.trunc_subsecs(0)).await?;
        let (guarded, case_clashes) = self.guard_every_org().await?;
        for (holder, other) in &case_clashes {
            tracing::warn!(%holder, %other, "two orgs stored before case guards have ids equal ignoring case");
        }
        let runs_open_ended = self.keep_runs_open_ended(now).await?;
        let users_counted = self.count_users_with_access(now).await?;
        let notify_emails_moved = self.move_notify_emails(now).await?;
        let lots_indexed = self.index_lots_by_end(now).await?;
        let enrolments_indexed = self.index_enrolments_by_id(now).await?;
        Ok(SetUp {
            vendor_written,
            guarded,
            case_clashes,
            runs_open_ended,
            users_counted,
            notify_emails_moved,
            lots_indexed,
            enrolments_indexed,
        })
    }

    /// Once per table (migration [`RUN_ACCESS`]; a new table has no org to mark): every org
    /// stored before course runs had a default access keeps its enrolments without an end open-ended (`Org::runs_open_ended`,
    /// written over the version read, through the executor) until the vendor sets
    /// `run_access_months` on it or above it. How many orgs this run marked (0 once recorded).
    async fn keep_runs_open_ended(&self, now: DateTime<Utc>) -> Result<usize, SetUpError> {
        let done = self.get::<serde_json::Value>(keys::org(VENDOR_ID), &keys::migration_sk(RUN_ACCESS)).await?;
        if done.is_some() {
            return Ok(0);
        }
        let spec = QuerySpec::index(GSI2, keys::ALL_ORGS.into(), SortKey::Any);
        let mut page = PageRequest { limit: 1000, cursor: None };
        let mut marked = 0;
        loop {
            let orgs = self.query::<Org>(&spec, &page).await?;
            for org in orgs.items.iter().filter(|o| !o.is_vendor_root() && !o.runs_open_ended) {
                marked += usize::from(self.mark_runs_open_ended(&org.org_id).await?);
            }
            match orgs.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        self.record_migration(RUN_ACCESS, now).await?;
        tracing::info!(marked, "orgs stored before run_access_months keep their runs open-ended");
        Ok(marked)
    }

    /// Once per table (migration [`USERS_COUNTED`]): every company's users with access (not
    /// released) are counted from its users and the count stored with its counters, which every
    /// write has kept since (so a new table counts nothing). How many companies were counted.
    async fn count_users_with_access(&self, now: DateTime<Utc>) -> Result<usize, SetUpError> {
        let done = self.get::<serde_json::Value>(keys::org(VENDOR_ID), &keys::migration_sk(USERS_COUNTED)).await?;
        if done.is_some() {
            return Ok(0);
        }
        let companies = self.all_orgs().await?.into_iter().filter(|o| o.kind == OrgKind::Company);
        let results: Vec<Result<(), Error>> = stream::iter(companies)
            .map(|org| async move { self.count_company_users(&org).await })
            .buffer_unordered(COUNTS_IN_FLIGHT)
            .collect()
            .await;
        let mut counted = 0;
        for r in results {
            r?;
            counted += 1;
        }
        self.record_migration(USERS_COUNTED, now).await?;
        tracing::info!(counted, "every company's users with access counted");
        Ok(counted)
    }

    /// Counts `org`'s users with access, a page at a time, and stores the count on the
    /// condition that the counters' figure did not move meanwhile (a user created or released
    /// while counting: counted again, through the executor).
    async fn count_company_users(&self, org: &Org) -> Result<(), Error> {
        crate::command::execute(self, || async move {
            let read = self.counters(&org.org_id).await?.with_access;
            let mut page = PageRequest { limit: 1000, cursor: None };
            let mut count = 0i64;
            loop {
                let users = self.users_matching(&org.org_id, "", &page, |u| u.released_at.is_none()).await?;
                count += users.items.len() as i64;
                match users.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            let change =
                CounterChange { with_access: count - read, with_access_read: Some(read), ..Default::default() };
            Ok(Decision::new(vec![Change::Counters { org: org.clone(), change }], ()))
        })
        .await
    }

    /// Once per table (migration [`NOTIFY_EMAILS_MOVED`]): every org whose own policy names
    /// `notify_emails` gets them as contacts receiving every topic ([`contacts::receiving_all`]),
    /// and its policy keeps only those its contacts had no room for. How many orgs were moved.
    async fn move_notify_emails(&self, now: DateTime<Utc>) -> Result<usize, SetUpError> {
        let done =
            self.get::<serde_json::Value>(keys::org(VENDOR_ID), &keys::migration_sk(NOTIFY_EMAILS_MOVED)).await?;
        if done.is_some() {
            return Ok(0);
        }
        let mut moved = 0;
        for org in self.all_orgs().await? {
            if org.policy.notify_emails.as_ref().is_some_and(|e| !e.is_empty()) {
                moved += usize::from(self.move_org_notify_emails(&org.org_id).await?);
            }
        }
        self.record_migration(NOTIFY_EMAILS_MOVED, now).await?;
        tracing::info!(moved, "orgs' own notify_emails are their contacts now");
        Ok(moved)
    }

    /// Moves one org's `notify_emails` into its contacts, over the version read (through the
    /// executor); `false` when it has none (or is gone).
    async fn move_org_notify_emails(&self, org_id: &str) -> Result<bool, Error> {
        crate::command::execute(self, || async move {
            let Some(org) = self.org(org_id).await? else { return Ok(Decision::unchanged(false)) };
            let Some(emails) = org.policy.notify_emails.clone().filter(|e| !e.is_empty()) else {
                return Ok(Decision::unchanged(false));
            };
            let (contacts, left) = contacts::receiving_all(org.contacts.clone(), emails);
            if !left.is_empty() {
                tracing::warn!(
                    org_id,
                    left = left.len(),
                    "notify_emails beyond the contacts' room stay the vendor's copy"
                );
            }
            let policy = PolicySettings { notify_emails: Some(left).filter(|l| !l.is_empty()), ..org.policy.clone() };
            Ok(Decision::new(vec![Change::Org(Org { contacts, policy, ..org })], true))
        })
        .await
    }

    /// Marks one org `runs_open_ended`, as it is now; `false` when it was already (or is gone).
    async fn mark_runs_open_ended(&self, org_id: &str) -> Result<bool, Error> {
        crate::command::execute(self, || async move {
            let Some(org) = self.org(org_id).await?.filter(|o| !o.runs_open_ended) else {
                return Ok(Decision::unchanged(false));
            };
            Ok(Decision::new(vec![Change::Org(Org { runs_open_ended: true, ..org })], true))
        })
        .await
    }

    /// Once per table (migration [`LOTS_BY_END`]): every company's live lots get the keys of the
    /// lots ending (`lots::ends_keys`; each first part, on the condition that it is still there),
    /// a few companies at a time. Lots that ended before are never in a window, so they are left.
    async fn index_lots_by_end(&self, now: DateTime<Utc>) -> Result<usize, SetUpError> {
        let indexed = self
            .once_per_company(LOTS_BY_END, now, |org| async move {
                let mut indexed = 0;
                for lot in self.lots_ending_after(&org.org_id, now).await? {
                    let attrs = super::lots::ends_keys(&lot, &org);
                    if !attrs.is_empty() {
                        self.set_keys(&lot.org_id, keys::lot_sk(lot.valid_until, &lot.lot_id), &attrs).await?;
                        indexed += 1;
                    }
                }
                Ok(indexed)
            })
            .await?;
        tracing::info!(indexed, "every live lot is indexed by its end");
        Ok(indexed)
    }

    /// Once per table (migration [`ENROLMENTS_BY_ID`]): every company's enrolments get the keys
    /// of the index by learning experience (`users::enrolment_id_keys`), a page of 1,000 at a
    /// time, a few companies at once. It runs in the set-up of the deployment that brings the
    /// index. A table of tens of millions of enrolments may outlast one invocation (15 minutes):
    /// the set-up then fails, the deployment rolls back and is run again; each write only sets
    /// keys, so a second run repeats work, never harm.
    async fn index_enrolments_by_id(&self, now: DateTime<Utc>) -> Result<usize, SetUpError> {
        let indexed = self
            .once_per_company(ENROLMENTS_BY_ID, now, |org| async move {
                let (mut indexed, mut page) = (0, PageRequest { limit: 1000, cursor: None });
                loop {
                    let got = self.org_enrolments(&org.org_id, None, &page).await?;
                    for e in &got.items {
                        let sk = keys::enrolment_sk(&e.email, &e.enrolment_id);
                        self.set_keys(&e.org_id, sk, &super::users::enrolment_id_keys(e)).await?;
                        indexed += 1;
                    }
                    match got.next_cursor {
                        Some(c) => page.cursor = Some(c),
                        None => return Ok(indexed),
                    }
                }
            })
            .await?;
        tracing::info!(indexed, "every enrolment is indexed by its learning experience");
        Ok(indexed)
    }

    /// Runs migration `name` once per table: `each` over every company, a few at a time, the
    /// counts it answers summed; recorded when every company is done (a failure leaves it to the
    /// next set-up, which does it again: each step only sets keys). 0 once recorded.
    async fn once_per_company<F, Fut>(&self, name: &str, now: DateTime<Utc>, each: F) -> Result<usize, SetUpError>
    where
        F: Fn(Org) -> Fut,
        Fut: std::future::Future<Output = Result<usize, Error>>,
    {
        if self.get::<serde_json::Value>(keys::org(VENDOR_ID), &keys::migration_sk(name)).await?.is_some() {
            return Ok(0);
        }
        let companies = self.all_orgs().await?.into_iter().filter(|o| o.kind == OrgKind::Company);
        let results: Vec<Result<usize, Error>> =
            stream::iter(companies).map(each).buffer_unordered(COUNTS_IN_FLIGHT).collect().await;
        let mut done = 0;
        for r in results {
            done += r?;
        }
        self.record_migration(name, now).await?;
        Ok(done)
    }

    /// Sets index keys (`attrs`) on the item `ORG#{org_id}`/`sk`, on the condition that it is there.
    async fn set_keys(&self, org_id: &str, sk: String, attrs: &[(&'static str, String)]) -> Result<(), Error> {
        let sets: Vec<String> = (0..attrs.len()).map(|i| format!("#k{i} = :k{i}")).collect();
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(keys::org(org_id)))
            .key(keys::SK, AttributeValue::S(sk))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(Some(
                attrs.iter().enumerate().map(|(i, (n, _))| (format!("#k{i}"), n.to_string())).collect(),
            ))
            .set_expression_attribute_values(Some(
                attrs.iter().enumerate().map(|(i, (_, v))| (format!(":k{i}"), AttributeValue::S(v.clone()))).collect(),
            ));
        super::send_write(|| request.clone().send()).await?;
        Ok(())
    }

    /// Records that migration `name` ran (once: a second record changes nothing).
    async fn record_migration(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let item = std::collections::HashMap::from([
            (keys::PK.to_string(), AttributeValue::S(keys::org(VENDOR_ID))),
            (keys::SK.to_string(), AttributeValue::S(keys::migration_sk(name))),
            (keys::TYPE.to_string(), AttributeValue::S("migration".into())),
            ("ran_at".to_string(), AttributeValue::S(keys::sort_time(now))),
        ]);
        // Recorded by a setup running at the same time: the same record.
        self.put_once(item).await
    }

    /// Stores the vendor root with `attribute_not_exists`; `false` when it was stored already.
    async fn store_vendor(&self, now: DateTime<Utc>) -> Result<bool, SetUpError> {
        if let Some(found) = self.org(VENDOR_ID).await? {
            return vendor_or_refusal(found).map(|()| false);
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.org_item(&Org::vendor_root(now))?))
            .condition_expression("attribute_not_exists(PK)");
        let written = super::send(|| request.clone().send()).await;
        match written {
            Ok(_) => Ok(true),
            // Another start stored it a moment ago: check what it stored.
            Err(StoreError::ConditionFailed(_)) => match self.org(VENDOR_ID).await? {
                Some(found) => vendor_or_refusal(found).map(|()| false),
                None => Err(StoreError::Other(format!("{} was written and then gone", keys::org(VENDOR_ID))).into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the case guard of every org that has none (`attribute_not_exists`, or the guard
    /// names the org already), a page of orgs at a time.
    async fn guard_every_org(&self) -> Result<(usize, Vec<(String, String)>), SetUpError> {
        let spec = QuerySpec::index(GSI2, keys::ALL_ORGS.into(), SortKey::Any);
        let mut page = PageRequest { limit: 1000, cursor: None };
        let (mut guarded, mut clashes) = (0, Vec::new());
        loop {
            let orgs = self.query::<Org>(&spec, &page).await?;
            let results: Vec<Result<Option<(String, String)>, StoreError>> = stream::iter(orgs.items)
                .map(|org| async move { self.guard(&org.org_id).await })
                .buffer_unordered(GUARDS_IN_FLIGHT)
                .collect()
                .await;
            for r in results {
                match r? {
                    None => guarded += 1,
                    Some(clash) => clashes.push(clash),
                }
            }
            match orgs.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok((guarded, clashes)),
            }
        }
    }

    /// Writes `org_id`'s case guard unless another org's holds its folded id: then that clash
    /// (the holder, `org_id`).
    async fn guard(&self, org_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.org_id_guard_item(org_id)?))
            .condition_expression("attribute_not_exists(PK) OR org_id = :id")
            .expression_attribute_values(":id", AttributeValue::S(org_id.to_string()));
        let written = super::send(|| request.clone().send()).await;
        match written {
            Ok(_) => Ok(None),
            Err(StoreError::ConditionFailed(_)) => {
                let holder =
                    self.get::<OrgIdGuard>(keys::org_id_guard(&folded_id(org_id)), keys::ORG_ID_GUARD_SK).await?;
                Ok(Some((holder.map(|g| g.org_id).unwrap_or_default(), org_id.to_string())))
            }
            Err(e) => Err(e),
        }
    }
}

/// `Ok` for the vendor root; for any other org stored under the vendor's id, the refusal that
/// stops the start, saying what is there and what to do.
fn vendor_or_refusal(found: Org) -> Result<(), SetUpError> {
    if found.is_vendor_root() {
        return Ok(());
    }
    let kind = serde_json::to_value(found.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    Err(SetUpError::NotTheVendor(format!(
        "{pk} holds the {kind} org {name:?} under {parent:?} (created {created}), not the vendor root: it was created \
         with the vendor's id before the vendor was stored. Nothing was set up. Move that org and its items \
         (partition {pk}, and its entries under its parent) to an id of its own, then start or deploy again \
         (README, \"Security model\")",
        pk = keys::org(VENDOR_ID),
        name = found.name,
        parent = found.parent_id.unwrap_or_default(),
        created = found.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )))
}
