//! The set-up the tests share, through the API as the tests' callers make it: the vendor →
//! partner → company tree, orders assigned into lots, policies, users (through the API, or
//! straight into the table with or without licences), enrolments and allocations; and the reads
//! set-up leans on (an org's lots, a user's access, every page of a list).
//!
//! A helper that builds state asserts that each of its requests succeeded; one that returns a
//! [`Call`] leaves the request to its caller.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use seatkeeper::domain::policy::Policy;
use seatkeeper::domain::user::{self, User};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{at, cm, platform, pm, Answer, Call, TestEnv, Who, NOW};

/// When worked example 1 (docs/domain.md#example-1-an-order) requests its order…
pub const REQUESTED: &str = "2026-01-10T08:00:00Z";
/// …and when it is assigned: a lot valid 2026-01-15T09:00Z → 2027-01-15T09:00Z.
pub const ASSIGNED: &str = "2026-01-15T09:00:00Z";

/// The tree.
impl TestEnv {
    /// Creates an org named `name` as the vendor admin and returns its id.
    pub async fn org_named(&self, org_id: &str, name: &str, kind: &str, parent_id: &str) -> String {
        let a = self
            .post("/v1/orgs")
            .by(&Who::vendor_admin())
            .json(json!({ "org_id": org_id, "name": name, "kind": kind, "parent_id": parent_id }))
            .send()
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        org_id.into()
    }

    /// Creates an org as the vendor admin and returns its id.
    pub async fn org(&self, org_id: &str, kind: &str, parent_id: &str) -> String {
        self.org_named(org_id, &org_id.to_uppercase(), kind, parent_id).await
    }

    /// Partner `p` with company `c` below it.
    pub async fn partner_with_company(&self, p: &str, c: &str) {
        self.org(p, "partner", "vendor").await;
        self.org(c, "company", p).await;
    }

    /// Partner `p`, company `c` below it and a lot of `quantity` for `c` (see [`TestEnv::lot`]);
    /// returns the lot's id.
    pub async fn company_with_lot(&self, quantity: u64) -> String {
        self.partner_with_company("p", "c").await;
        let a = self.lot("p", "c", quantity).await;
        a.body["lot"]["lot_id"].as_str().unwrap().to_string()
    }
}

/// Orders and policies.
impl TestEnv {
    /// Requests an order as the company's manager; returns the order id.
    pub async fn request(&self, company: &str, quantity: u64, at: &str) -> String {
        let a = self
            .post(&format!("/v1/orgs/{company}/orders"))
            .by(&cm(company))
            .json(json!({ "quantity": quantity }))
            .at(at)
            .send()
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.body["order_id"].as_str().unwrap().to_string()
    }

    /// Assigning `order`, as the manager of `partner`.
    pub fn assign(&self, order: &str, partner: &str) -> Call<'_> {
        self.post(&format!("/v1/orders/{order}/assign")).by(&pm(partner))
    }

    /// Requests an order of `quantity` for `company` at `requested` and assigns it as the manager
    /// of `partner` at `assigned`: the company gets a lot. Returns the assign's answer.
    pub async fn order_and_assign(
        &self,
        company: &str,
        quantity: u64,
        requested: &str,
        partner: &str,
        assigned: &str,
    ) -> Answer {
        let order = self.request(company, quantity, requested).await;
        let a = self.assign(&order, partner).at(assigned).send().await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a
    }

    /// [`TestEnv::order_and_assign`] at worked case 1's instants, [`REQUESTED`] and [`ASSIGNED`].
    pub async fn lot(&self, partner: &str, company: &str, quantity: u64) -> Answer {
        self.order_and_assign(company, quantity, REQUESTED, partner, ASSIGNED).await
    }

    /// Sets knobs of `org`'s own policy as the vendor admin.
    pub async fn set_policy(&self, org: &str, policy: Value) -> Answer {
        let a = self.put(&format!("/v1/orgs/{org}/policy")).by(&Who::vendor_admin()).json(policy).send().await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a
    }
}

/// Users, enrolments and allocations.
impl TestEnv {
    /// Putting user `email` of `org`, as the company's manager.
    pub fn put_user(&self, org: &str, email: &str) -> Call<'_> {
        self.put(&format!("/v1/orgs/{org}/users/{email}")).by(&cm(org))
    }

    /// Users of `org` put through the API; see [`Users`].
    pub fn users<S: AsRef<str>>(&self, org: &str, emails: impl IntoIterator<Item = S>) -> Users<'_> {
        Users {
            env: self,
            org: org.into(),
            emails: emails.into_iter().map(|e| e.as_ref().to_string()).collect(),
            who: cm(org),
            body: UserBody::None,
            at: NOW.into(),
        }
    }

    /// A company manager of `org` put through the API (a recipient of its notices).
    pub fn manager(&self, org: &str, email: &str) -> Users<'_> {
        self.users(org, [email]).json(json!({"role": "company_manager"}))
    }

    /// Learners of `org` written straight to the table (setting up large files quickly).
    pub async fn seed_users(&self, org: &str, emails: &[String], at: &str) {
        let store = &self.app.store;
        let items = emails.iter().map(|e| store.user_item(&User::new(org, e, at.parse().unwrap())).unwrap()).collect();
        self.write_items(items).await;
    }

    /// `n` learners `{prefix}{i}@{org}.example` with active licences of lot `lot-x` ending at
    /// `end`, written straight to the table.
    pub async fn seed_licensed(&self, org: &str, prefix: &str, n: usize, end: &str) {
        let policy = Policy::resolve([]);
        let items = (0..n)
            .map(|i| {
                let u = User::new(org, &format!("{prefix}{i}@{org}.example"), at("2026-01-01T00:00:00Z"));
                let u = user::issue(
                    &u,
                    format!("lic-{prefix}{i}"),
                    Some("lot-x".into()),
                    Some(at(end)),
                    &policy,
                    at("2026-01-02T00:00:00Z"),
                );
                self.app.store.user_item(&u).unwrap()
            })
            .collect();
        self.write_items(items).await;
    }

    /// Putting enrolment `run` of user `email` of `org`, as the org's platform.
    pub fn enrolment(&self, org: &str, email: &str, run: &str) -> Call<'_> {
        self.put(&format!("/v1/orgs/{org}/users/{email}/enrolments/{run}")).by(&platform(org))
    }

    /// Puts enrolment `run` of user `email` of `org` as the org's platform, at `at`.
    pub async fn enrol(&self, org: &str, email: &str, run: &str, body: Value, at: &str) -> Answer {
        let a = self.enrolment(org, email, run).json(body).at(at).send().await;
        assert_eq!(a.status, 200, "{email}: {:?}", a.body);
        a
    }

    /// Allocating licences of `org`, as the company's manager.
    pub fn allocation(&self, org: &str) -> Call<'_> {
        self.post(&format!("/v1/orgs/{org}/allocations")).by(&cm(org))
    }

    /// Allocates as the company's manager.
    pub async fn allocate(&self, org: &str, body: Value, at: &str) -> Answer {
        self.allocation(org).json(body).at(at).send().await
    }

    /// Allocates a licence to each of `emails` (creating the users missing) at `at`: every one
    /// is allocated.
    pub async fn licensed(&self, org: &str, emails: &[impl Serialize], at: &str) -> Answer {
        let a = self.allocate(org, json!({"emails": emails, "create_missing": true}), at).await;
        assert_eq!(a.body["allocated"], emails.len() as u64, "{:?}", a.body);
        a
    }
}

/// Reads.
impl TestEnv {
    /// `org`'s lots at `at`, as its manager reads them.
    pub async fn lots(&self, org: &str, at: &str) -> Vec<Value> {
        let a = self.get(&format!("/v1/orgs/{org}/lots")).by(&cm(org)).at(at).send().await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["items"].as_array().unwrap().clone()
    }

    /// Whether user `email` of `org` has access at `at`, as the org's platform asks.
    pub async fn access(&self, org: &str, email: &str, at: &str) -> Value {
        let a = self.get(&format!("/v1/orgs/{org}/users/{email}/access")).by(&platform(org)).at(at).send().await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body
    }

    /// Every page of the list at `url`, following `next_cursor` to the end, as `who` at `at`.
    pub async fn pages(&self, url: &str, who: &Who, at: &str) -> Vec<Answer> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut pages = Vec::new();
        let mut target = url.to_string();
        for _ in 0..1000 {
            let page = self.get(&target).by(who).at(at).send().await;
            assert_eq!(page.status, 200, "{target}: {:?}", page.body);
            let next = page.body["next_cursor"].as_str().map(|c| format!("{url}{sep}cursor={c}"));
            pages.push(page);
            match next {
                Some(next) => target = next,
                None => return pages,
            }
        }
        panic!("{url}: the pages never end");
    }
}

enum UserBody {
    None,
    Json(Value),
    /// `{"name": <the e-mail>}`
    Named,
}

/// Users of one org put through the API (`PUT /v1/orgs/{org}/users/{email}`) one after the
/// other when awaited, each answered 200 or 201: as the company's manager, with no body, at
/// [`NOW`], unless told otherwise.
pub struct Users<'a> {
    env: &'a TestEnv,
    org: String,
    emails: Vec<String>,
    who: Who,
    body: UserBody,
    at: String,
}

impl Users<'_> {
    pub fn by(mut self, who: &Who) -> Self {
        self.who = who.clone();
        self
    }

    /// The same body for each user.
    pub fn json(mut self, body: Value) -> Self {
        self.body = UserBody::Json(body);
        self
    }

    /// Each user named by its e-mail.
    pub fn named(mut self) -> Self {
        self.body = UserBody::Named;
        self
    }

    pub fn at(mut self, now: &str) -> Self {
        self.at = now.into();
        self
    }
}

impl<'a> IntoFuture for Users<'a> {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            for e in &self.emails {
                let mut call = self.env.put(&format!("/v1/orgs/{}/users/{e}", self.org)).by(&self.who).at(&self.at);
                match &self.body {
                    UserBody::None => {}
                    UserBody::Json(body) => call = call.json(body.clone()),
                    UserBody::Named => call = call.json(json!({ "name": e })),
                }
                let a = call.send().await;
                assert!(a.status == 201 || a.status == 200, "{e}: {:?}", a.body);
            }
        })
    }
}

/// Imports as the first layout stored them, before rows moved under their org.
impl TestEnv {
    /// Rewrites import (or allocation job) `import_id` of `org` as the first layout stored it,
    /// under the id `legacy_id`: the record without the fields that layout did not know
    /// (`rows_in_org`, `fingerprint`, `review_expires_at`), and its rows, release list and
    /// progress in the global partition `IMPORT#{legacy_id}`, without an expiry or an owner. For a
    /// record that licensed nobody yet (a licence id names its import).
    pub async fn to_first_layout(&self, org: &str, import_id: &str, legacy_id: &str) {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let (record_pk, rows_pk) = (format!("ORG#{org}"), format!("ORG#{org}#IMPORT#{import_id}"));
        let mut record = self.item(&record_pk, &format!("IMPORT#{import_id}")).await.expect("the import record");
        for field in ["rows_in_org", "fingerprint", "review_expires_at"] {
            record.remove(field);
        }
        record.insert("import_id".into(), S(legacy_id.into()));
        record.insert("SK".into(), S(format!("IMPORT#{legacy_id}")));
        let rows = self.partition(&rows_pk).await;
        assert!(!rows.is_empty(), "{rows_pk} holds the rows");
        let mut items = vec![record];
        for mut row in rows {
            let sk = row["SK"].clone();
            self.delete(&rows_pk, sk.as_s().unwrap()).await;
            row.remove("expires_at");
            row.remove("fingerprint");
            row.insert("PK".into(), S(format!("IMPORT#{legacy_id}")));
            items.push(row);
        }
        self.delete(&record_pk, &format!("IMPORT#{import_id}")).await;
        self.write_items(items).await;
    }

    /// Deletes item `pk`/`sk` straight from the table.
    pub async fn delete(&self, pk: &str, sk: &str) {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let client = &self.app.store.client;
        client
            .delete_item()
            .table_name(&self.table)
            .key("PK", S(pk.into()))
            .key("SK", S(sk.into()))
            .send()
            .await
            .unwrap();
    }
}
