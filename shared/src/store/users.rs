//! Users (each with its current licence), enrolments, manager markers and per-org counters (the
//! lots whose seats they take are in `lots.rs`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::keys::{self, GSI1, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, GSI4PK, GSI4SK, PK, SK};
use super::{n, put, put_if, s, to_item, Error, Item, Page, PageRequest, QuerySpec, Read, SortKey, Store, StoreError};
use crate::domain::allocation::Balance;
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::org::Org;
use crate::domain::policy::{Counting, Enforcement, Policy};
use crate::domain::seats::{CounterChange, Counters, Headcount, Reuse, ReuseChange};
use crate::domain::user::{LicenceStatus, Login, User, UserRole};

/// The spread items an org's `seats_held` (and, where nothing limits them, `active_users`) is
/// written over (`COUNTERS#00` … `COUNTERS#31`), beside its counters item
/// (docs/architecture.md#seat-parts).
pub const COUNTER_SPREAD: u32 = 32;

/// A user's place in the due-by-instant index while its licence is active and ends: its wake
/// (`domain::expiry::wake`).
pub(crate) fn user_due_key(user: &User) -> Option<(String, String)> {
    let l = user.licence.as_ref()?;
    let end = l.valid_until.filter(|_| l.status == LicenceStatus::Active)?;
    let id = format!("{}#{}", user.org_id, user.email);
    Some((keys::due(&id), keys::due_sk(crate::domain::expiry::wake(end, l.reminded_for), "USER", &id)))
}

/// An enrolment's place in the due-by-instant index while it is not expired and ends: its end.
pub(crate) fn enrolment_due_key(e: &Enrolment) -> Option<(String, String)> {
    let end = e.ends_at.filter(|_| e.status != EnrolmentStatus::Expired)?;
    let id = format!("{}#{}#{}", e.org_id, e.email, e.enrolment_id);
    Some((keys::due(&id), keys::due_sk(end, "ENROLMENT", &id)))
}

/// An enrolment's keys in the index of an org's enrolments by learning experience (store/keys.rs).
pub fn enrolment_id_keys(e: &Enrolment) -> [(&'static str, String); 2] {
    [(GSI1PK, keys::enrolments_by_id(&e.org_id, &e.enrolment_id)), (GSI1SK, e.email.clone())]
}

pub(super) fn update(
    table: &str,
    key: Item,
    expression: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let u = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expression)
        .set_condition_expression(condition)
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .set_expression_attribute_values((!values.is_empty()).then_some(values))
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(u).build())
}

/// The update and conditions of a change to the distinct users of the licence year.
fn reuse_terms(
    reuse: &ReuseChange,
    active_spread: i64,
    sets: &mut Vec<String>,
    conditions: &mut Vec<String>,
    values: &mut HashMap<String, AttributeValue>,
) {
    match reuse {
        ReuseChange::None => {}
        ReuseChange::Add { year } => {
            sets.push("reuse = if_not_exists(reuse, :zero) + :one".into());
            conditions.push("reuse_year = :reuse_year".into());
            values.insert(":one".into(), n(1));
            values.insert(":reuse_year".into(), s(year.to_string()));
        }
        ReuseChange::Start { year, counted, active_read, value } => {
            sets.push("reuse = :reuse, reuse_year = :reuse_year".into());
            values.insert(":reuse".into(), n(*value));
            values.insert(":reuse_year".into(), s(year.to_string()));
            conditions.push(match counted {
                Some(c) => {
                    values.insert(":counted".into(), s(c.to_string()));
                    "reuse_year = :counted".to_string()
                }
                None => "attribute_not_exists(reuse_year)".to_string(),
            });
            // The start counts the users active as read: nobody may have changed since. The
            // counters item holds them less what the spread items held.
            let own = *active_read - active_spread;
            if own == 0 {
                conditions.push("(attribute_not_exists(active_users) OR active_users = :zero)".into());
            } else {
                conditions.push("active_users = :active_read".into());
                values.insert(":active_read".into(), n(own));
            }
        }
    }
}

pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Query pages a filtered page of users reads before it settles for fewer users than asked.
const USER_READS_PER_PAGE: usize = 10;

impl Store {
    // ---- users ------------------------------------------------------------------------------

    pub async fn user(&self, org_id: &str, email: &str) -> Result<Option<User>, StoreError> {
        self.get(keys::org(org_id), &keys::user_sk(email)).await
    }

    pub async fn users(&self, org_id: &str, page: &PageRequest) -> Result<Page<User>, Error> {
        self.query(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::users_prefix().into())), page).await
    }

    /// Users of an org whose e-mail starts with `email_prefix` (lower-cased, as e-mails are
    /// stored) and that pass `keep`, in e-mail order: one `Query` of the org's users with
    /// `begins_with` on the sort key, read on as [`Store::query_matching`] does.
    pub async fn users_matching(
        &self,
        org_id: &str,
        email_prefix: &str,
        page: &PageRequest,
        keep: impl Fn(&User) -> bool,
    ) -> Result<Page<User>, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::user_sk(email_prefix)));
        self.query_matching(&spec, page, keep, USER_READS_PER_PAGE).await
    }

    /// Users by the stored status of their licence.
    pub async fn users_by_licence_status(
        &self,
        org_id: &str,
        status: LicenceStatus,
        page: &PageRequest,
    ) -> Result<Page<User>, Error> {
        self.query(&QuerySpec::index(GSI1, keys::licences_by_status(org_id, status.as_str()), SortKey::Any), page).await
    }

    /// Users whose licence is expired now ([`crate::domain::user::Licence::status_at`], the one
    /// rule): those still stored `active` whose end has passed (the sweep has not reached them
    /// yet), then those stored `expired`, by e-mail within each; a page that ends the first goes
    /// on into the second. One cursor goes through both: it names the partition it goes on in
    /// (the second's start: that partition alone). A page may be short while `next_cursor` goes
    /// on.
    pub async fn users_expired_now(
        &self,
        org_id: &str,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<User>, Error> {
        let (active, expired) = (
            keys::licences_by_status(org_id, LicenceStatus::Active.as_str()),
            keys::licences_by_status(org_id, LicenceStatus::Expired.as_str()),
        );
        let expired_now = |u: &User| u.licence_status(now) == Some(LicenceStatus::Expired);
        let starting = super::start_of(GSI1PK, &expired);
        let in_active = page.cursor.as_deref().is_none_or(|c| super::continues_in(c, GSI1PK, &active));
        let expired_spec = QuerySpec::index(GSI1, expired, SortKey::Any);
        if !in_active {
            let from = PageRequest { limit: page.limit, cursor: page.cursor.clone().filter(|c| *c != starting) };
            return self.query_matching(&expired_spec, &from, expired_now, USER_READS_PER_PAGE).await;
        }
        let spec = QuerySpec::index(GSI1, active, SortKey::Any);
        let mut got = self.query_matching(&spec, page, expired_now, USER_READS_PER_PAGE).await?;
        let room = (page.limit.max(1) as usize).saturating_sub(got.items.len());
        match (&got.next_cursor, room) {
            (Some(_), _) => {}
            // The page is full where the unswept ones end: the swept ones from the next.
            (None, 0) => got.next_cursor = Some(starting),
            // The rest of this page from the swept ones.
            (None, room) => {
                let from = PageRequest { limit: room as i32, cursor: None };
                let swept = self.query_matching(&expired_spec, &from, expired_now, USER_READS_PER_PAGE).await?;
                got.items.extend(swept.items);
                got.next_cursor = swept.next_cursor;
            }
        }
        Ok(got)
    }

    /// The user item with the index keys its licence and renewal date call for.
    pub fn user_item(&self, user: &User) -> Result<Item, StoreError> {
        let id = format!("{}#{}", user.org_id, user.email);
        let mut attrs = vec![(PK, keys::org(&user.org_id)), (SK, keys::user_sk(&user.email))];
        if let Some(l) = &user.licence {
            attrs.push((GSI1PK, keys::licences_by_status(&user.org_id, l.status.as_str())));
            attrs.push((GSI1SK, user.email.clone()));
            if let Some((pk, sk)) = user_due_key(user) {
                attrs.push((GSI2PK, pk));
                attrs.push((GSI2SK, sk));
            }
        }
        if let Some(at) = user.renewal_at {
            attrs.push((GSI3PK, keys::renew(&id)));
            attrs.push((GSI3SK, format!("{}#{id}", keys::sort_time(at))));
            attrs.push((GSI4PK, keys::org_renewals(&user.org_id)));
            attrs.push((GSI4SK, format!("{}#{}", keys::sort_time(at), user.email)));
        }
        to_item("user", user, &attrs)
    }

    /// Writes `user` over the version that was read (`user.version`), bumping it; a user that
    /// was not there (`created`) must still not be there. Either way a concurrent change of the
    /// same user fails this write's condition.
    pub fn put_user(&self, user: &User, created: bool) -> Result<TransactWriteItem, StoreError> {
        let mut next = user.clone();
        next.version = user.version + 1;
        let item = self.user_item(&next)?;
        if created {
            return put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new());
        }
        put_if(
            &self.table,
            item,
            Some("version = :v"),
            &[],
            HashMap::from([(":v".to_string(), n(user.version as i64))]),
        )
    }

    /// The manager marker follows the user's role.
    pub fn manager_marker(&self, user: &User) -> Result<TransactWriteItem, StoreError> {
        let k = key(keys::org(&user.org_id), keys::manager_sk(&user.email));
        if user.role == UserRole::CompanyManager {
            let mut item = k;
            item.insert(keys::TYPE.into(), s("manager"));
            item.insert("email".into(), s(user.email.clone()));
            return put(&self.table, item);
        }
        super::delete(&self.table, k)
    }

    // ---- logins ------------------------------------------------------------------------------

    /// Writes a user's login item (no index holds it: one write unit) on the condition that it
    /// holds no login of the same UTC day or later: a second report the same day, or a
    /// concurrent one, is a race, decided again.
    pub fn put_login(&self, login: &Login) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item("login", login, &[(PK, keys::org(&login.org_id)), (SK, keys::login_sk(&login.email))])?;
        let day = login.last_login_at.date_naive().to_string();
        item.insert("login_day".into(), s(day.clone()));
        let condition = "attribute_not_exists(PK) OR login_day < :day";
        put_if(&self.table, item, Some(condition), &[], HashMap::from([(":day".to_string(), s(day))]))
    }

    /// A user's last login as its login item holds it, strongly consistent: a report right after
    /// another the same day reads it and writes nothing, rather than failing the write's
    /// condition and being decided again.
    pub async fn login(&self, org_id: &str, email: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let found =
            self.get_many_read::<Login>(vec![(keys::org(org_id), &keys::login_sk(email))], Read::Consistent).await?;
        Ok(found.into_iter().next().map(|l| l.last_login_at))
    }

    /// `users` with their last logins ([`User::with_login`]), read 100 at a time.
    pub async fn with_logins(&self, org_id: &str, users: Vec<User>) -> Result<Vec<User>, StoreError> {
        let pk = keys::org(org_id);
        let sks: Vec<String> = users.iter().map(|u| keys::login_sk(&u.email)).collect();
        let logins: Vec<Login> =
            self.get_many_read(sks.iter().map(|sk| (pk.clone(), sk.as_str())).collect(), Read::Eventual).await?;
        let by_email: HashMap<String, DateTime<Utc>> = logins.into_iter().map(|l| (l.email, l.last_login_at)).collect();
        Ok(users
            .into_iter()
            .map(|u| {
                let login = by_email.get(&u.email).copied();
                u.with_login(login)
            })
            .collect())
    }

    // ---- enrolments -------------------------------------------------------------------------

    pub async fn enrolments(&self, org_id: &str, email: &str) -> Result<Vec<Enrolment>, Error> {
        self.query_all(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::enrolments_of(email)))).await
    }

    /// One page of a user's enrolments, by enrolment id.
    pub async fn enrolments_page(
        &self,
        org_id: &str,
        email: &str,
        page: &PageRequest,
    ) -> Result<Page<Enrolment>, Error> {
        self.query(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::enrolments_of(email))), page).await
    }

    /// An org's enrolments ("Enrolments > All"): every one, by e-mail, or those of one learning
    /// experience (`enrolment_id`, from its index), a page at a time.
    pub async fn org_enrolments(
        &self,
        org_id: &str,
        enrolment_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Enrolment>, Error> {
        let spec = match enrolment_id {
            Some(id) => QuerySpec::index(GSI1, keys::enrolments_by_id(org_id, id), SortKey::Any),
            None => QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::ENROLMENTS_PREFIX.into())),
        };
        self.query(&spec, page).await
    }

    /// The enrolment item; while it is not expired and has an end it is in the due-by-instant
    /// index, so the expire sweep counts its user off the active users when the end passes.
    pub fn put_enrolment(&self, e: &Enrolment) -> Result<TransactWriteItem, StoreError> {
        let mut attrs = vec![(PK, keys::org(&e.org_id)), (SK, keys::enrolment_sk(&e.email, &e.enrolment_id))];
        attrs.extend(enrolment_id_keys(e));
        if let Some((pk, sk)) = enrolment_due_key(e) {
            attrs.push((GSI2PK, pk));
            attrs.push((GSI2SK, sk));
        }
        put(&self.table, to_item("enrolment", e, &attrs)?)
    }

    // ---- counters ---------------------------------------------------------------------------

    /// What an active user's change needs for the reuse count ([`Reuse`]): under `counting =
    /// active_users` the org's counters and its licence year; otherwise nothing is read.
    pub async fn reuse(&self, org: &Org, now: DateTime<Utc>) -> Result<Reuse, Error> {
        let policy = self.policy(org).await?;
        if policy.counting != crate::domain::policy::Counting::ActiveUsers {
            return Ok(Reuse::default());
        }
        let year = crate::domain::usage::licence_year(&self.lots_ending_after(&org.org_id, now).await?, now);
        Ok(Reuse { counters: self.counters(&org.org_id).await?, year })
    }

    /// The room an org has for users with access under `policy` ([`Headcount`]): its counters
    /// (and its balance, unless given as read) are read only under `counting = users` with hard
    /// enforcement.
    pub async fn headcount(
        &self,
        org_id: &str,
        policy: &Policy,
        balance: Option<&Balance>,
        now: DateTime<Utc>,
    ) -> Result<Headcount, Error> {
        if policy.counting != Counting::Users || policy.enforcement != Enforcement::Hard {
            return Ok(Headcount::default());
        }
        let counters = self.counters(org_id).await?;
        Ok(match balance {
            Some(balance) => Headcount::of(policy, balance, &counters, now),
            None => Headcount::of(policy, &self.balance(org_id, policy, now).await?, &counters, now),
        })
    }

    /// What a release of `user` decides on: its live enrolments and, when it is active, the
    /// reuse count's state.
    pub async fn release_state(
        &self,
        org: &Org,
        user: &User,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Enrolment>, Reuse), Error> {
        let live = self.enrolments(&org.org_id, &user.email).await?.into_iter().filter(|e| e.live_at(now)).collect();
        let reuse = if user.active { self.reuse(org, now).await? } else { Reuse::default() };
        Ok((live, reuse))
    }

    /// Users of an org by e-mail (those that exist), read 100 at a time, up to ten reads at once.
    pub async fn users_by_email(&self, org_id: &str, emails: &[String]) -> Result<Vec<User>, StoreError> {
        self.users_by_email_read(org_id, emails, super::Read::Consistent).await
    }

    /// [`Store::users_by_email`], strongly consistent or eventually.
    pub async fn users_by_email_read(
        &self,
        org_id: &str,
        emails: &[String],
        read: super::Read,
    ) -> Result<Vec<User>, StoreError> {
        let pk = keys::org(org_id);
        let sks: Vec<String> = emails.iter().map(|e| keys::user_sk(e)).collect();
        self.get_many_read(sks.iter().map(|sk| (pk.clone(), sk.as_str())).collect(), read).await
    }

    /// The org's counters: its counters item and what its spread items hold, summed (one `Query`
    /// of the keys starting `COUNTERS`, [`Store::change_counters`]); the spread items' share of
    /// the active users is kept apart too ([`Counters::spread_active_users`]).
    pub async fn counters(&self, org_id: &str) -> Result<Counters, Error> {
        let spec = QuerySpec::table(keys::org(org_id), SortKey::BeginsWith(keys::COUNTERS_SK.into()));
        let mut summed = Counters::default();
        for item in self.query_all_items(&spec).await? {
            let spread = item.get(SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk != keys::COUNTERS_SK);
            let mut read: Counters = super::from_item(item)?;
            if spread {
                read.spread_active_users = read.active_users;
            }
            summed = summed.plus(read);
        }
        Ok(summed)
    }

    /// Adds `change` to the org's counters, on the condition that the limits hold afterwards.
    /// The counters item is in `org`'s usage tree (GSI4), so its keys are set with every change.
    ///
    /// A change that only moves `seats_held` (an allocation's, an expiry's: a count with no
    /// limit and no condition), and `active_users` where the org neither limits nor counts them
    /// per year, goes to one of [`COUNTER_SPREAD`] spread items instead — the one
    /// of `part`, the number of the lot part the seats come from, or one picked at random — so
    /// one company's many allocations at once do not all write one item; the readers sum them.
    pub fn change_counters(
        &self,
        org: &Org,
        change: &CounterChange,
        part: Option<u32>,
    ) -> Result<TransactWriteItem, StoreError> {
        if change.is_empty() || change.reuse_max.is_some() || change.with_access_read.is_some() {
            return self.change_counters_item(org, change, keys::COUNTERS_SK.to_string());
        }
        // Active users go with the seats when the org neither limits nor counts them per year.
        let active_spreads =
            change.active_spreadable && change.active_users_max.is_none() && change.reuse == ReuseChange::None;
        let spreads = (change.included_in_use, change.with_access) == (0, 0)
            && (change.active_users == 0 || active_spreads)
            && change.reuse == ReuseChange::None;
        if !spreads {
            return self.change_counters_item(org, change, keys::COUNTERS_SK.to_string());
        }
        let spread =
            part.unwrap_or_else(|| (uuid::Uuid::new_v4().as_u128() % COUNTER_SPREAD as u128) as u32) % COUNTER_SPREAD;
        let moved = CounterChange {
            seats_held: change.seats_held,
            active_users: change.active_users,
            ..CounterChange::default()
        };
        self.change_counters_item(org, &moved, format!("{}#{spread:02}", keys::COUNTERS_SK))
    }

    fn change_counters_item(
        &self,
        org: &Org,
        change: &CounterChange,
        sk: String,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut sets = Vec::new();
        let mut conditions = Vec::new();
        let mut values = HashMap::from([(":zero".to_string(), n(0))]);
        for (name, delta) in [
            ("seats_held", change.seats_held),
            ("included_in_use", change.included_in_use),
            ("active_users", change.active_users),
            ("with_access", change.with_access),
        ] {
            sets.push(format!("{name} = if_not_exists({name}, :zero) + :d_{name}"));
            values.insert(format!(":d_{name}"), n(delta));
        }
        for (name, max, delta) in [
            ("included_in_use", change.included_max, change.included_in_use),
            ("active_users", change.active_users_max, change.active_users),
            ("with_access", change.with_access_max, change.with_access),
        ] {
            if let (Some(max), true) = (max, delta > 0) {
                // After adding `delta` the count must not pass `max` (an absent count is zero);
                // the counters item holds the count less what the spread items held.
                let spread = if name == "active_users" { change.active_spread_read } else { 0 };
                conditions.push(format!(
                    "((attribute_not_exists({name}) AND :zero <= :max_{name}) OR {name} <= :max_{name})"
                ));
                values.insert(format!(":max_{name}"), n(max - delta - spread));
            }
        }
        let names = HashMap::from([("#type".to_string(), keys::TYPE.to_string())]);
        reuse_terms(&change.reuse, change.active_spread_read, &mut sets, &mut conditions, &mut values);
        if let Some(read) = change.with_access_read {
            conditions.push(
                "(attribute_not_exists(with_access) AND :with_access_read = :zero) OR with_access = :with_access_read"
                    .into(),
            );
            values.insert(":with_access_read".into(), n(read));
        }
        if let (Some(max), ReuseChange::Add { .. }) = (change.reuse_max, &change.reuse) {
            // One more distinct user must stay within the cap (docs/domain.md#active-users-and-reuse).
            conditions.push("reuse < :reuse_max".into());
            values.insert(":reuse_max".into(), n(max));
        }
        sets.push("#type = :type".into());
        values.insert(":type".into(), s("counters"));
        for (i, (name, value)) in super::records::tree_keys(org, &sk).into_iter().enumerate() {
            sets.push(format!("{name} = :tree{i}"));
            values.insert(format!(":tree{i}"), s(value));
        }
        update(
            &self.table,
            key(keys::org(&org.org_id), sk),
            format!("SET {}", sets.join(", ")),
            (!conditions.is_empty()).then(|| conditions.join(" AND ")),
            names,
            values,
        )
    }
}
