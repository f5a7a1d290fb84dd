//! The users of a company: the list searched by e-mail prefix and filtered by licence status,
//! page by page, and one user's enrolments.

use seatkeeper_tests::{cm, platform, Answer, TestEnv, Who, ASSIGNED};
use serde_json::{json, Value};

fn emails(page: &Answer) -> Vec<String> {
    page.body["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect()
}

/// Every page of a list, following `next_cursor`: the e-mails in order and each page's size.
async fn every_page(env: &TestEnv, url: &str, at: &str) -> (Vec<String>, Vec<usize>) {
    let pages: Vec<Vec<String>> = env.pages(url, &cm("c"), at).await.iter().map(emails).collect();
    (pages.concat(), pages.iter().map(Vec::len).collect())
}

#[tokio::test]
async fn the_user_list_searches_by_e_mail_prefix_and_filters_by_the_licence_status_now() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 5, ASSIGNED, "p", ASSIGNED).await;
    for e in ["ann@c.example", "anna@c.example", "annie@c.example", "bob@c.example", "carl@c.example", "dora@c.example"]
    {
        let a = env.put_user("c", e).json(json!({"name": e})).send().await;
        assert_eq!(a.status, 201, "{:?}", a.body);
    }
    let at = "2026-02-01T00:00:00Z";
    let a = env.allocate("c", json!({"emails": ["ann@c.example", "bob@c.example", "carl@c.example"]}), at).await;
    assert_eq!(a.body["allocated"], 3, "{:?}", a.body);
    let r = env.call("DELETE", "/v1/orgs/c/users/carl@c.example").by(&cm("c")).at(at).send().await;
    assert_eq!(r.status, 200);

    let list = |query: &str, at: &str| {
        let url = format!("/v1/orgs/c/users{query}");
        let at = at.to_string();
        let env = &env;
        async move { env.get(&url).by(&cm("c")).at(&at).send().await }
    };
    let march = "2026-03-01T00:00:00Z";
    let found = list("?email_prefix=%20ANN", march).await;
    assert_eq!(emails(&found), ["ann@c.example", "anna@c.example", "annie@c.example"], "case-insensitive, trimmed");
    assert_eq!(found.body["items"][0]["licence_status"], "active");
    assert_eq!(emails(&list("?email_prefix=anna", march).await), ["anna@c.example"]);
    assert_eq!(emails(&list("?email_prefix=zed", march).await), Vec::<String>::new());
    assert_eq!(emails(&list("?email_prefix=ann&licence_status=active", march).await), ["ann@c.example"]);
    assert_eq!(emails(&list("?licence_status=active", march).await), ["ann@c.example", "bob@c.example"]);
    assert_eq!(
        emails(&list("?licence_status=none", march).await),
        ["anna@c.example", "annie@c.example", "dora@c.example"]
    );
    assert_eq!(emails(&list("?licence_status=released", march).await), ["carl@c.example"]);
    assert_eq!(emails(&list("?licence_status=pending", march).await), Vec::<String>::new());
    let all = list("", march).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 6);
    assert_eq!(all.body["next_cursor"], Value::Null);

    // The lot ended on 2027-01-15; no sweep has run: the status now is what filters.
    let after = "2027-02-01T00:00:00Z";
    assert_eq!(emails(&list("?licence_status=expired", after).await), ["ann@c.example", "bob@c.example"]);
    assert_eq!(emails(&list("?licence_status=active", after).await), Vec::<String>::new());

    // Pages of a search and of a filter follow their cursors to the end, each user once.
    let (pages, sizes) = every_page(&env, "/v1/orgs/c/users?email_prefix=ann&limit=2", march).await;
    assert_eq!(pages, ["ann@c.example", "anna@c.example", "annie@c.example"]);
    assert_eq!(sizes, [2, 1]);
    let (pages, _) = every_page(&env, "/v1/orgs/c/users?licence_status=none&limit=1", march).await;
    assert_eq!(pages, ["anna@c.example", "annie@c.example", "dora@c.example"]);

    for bad in ["?licence_status=lapsed", "?limit=0", "?cursor=nonsense", &format!("?email_prefix={}", "a".repeat(255))]
    {
        let r = list(bad, march).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{bad}: {:?}", r.body);
    }
    // A cursor of another org's list opens nothing here.
    env.org("c2", "company", "p").await;
    let other = env.get("/v1/orgs/c/users?limit=1").by(&cm("c")).send().await;
    let cursor = other.body["next_cursor"].as_str().unwrap();
    let r = env.get(&format!("/v1/orgs/c2/users?cursor={cursor}")).by(&Who::vendor_admin()).send().await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

/// A filter that matches few of many users: a page reads on a bounded way, may come back short
/// (even empty) with a cursor, and the cursors still lead to every match exactly once.
#[tokio::test]
async fn a_filtered_page_may_be_short_but_its_cursor_goes_on() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.order_and_assign("c", 3, ASSIGNED, "p", ASSIGNED).await;
    let many: Vec<String> = (0..1500).map(|i| format!("a{i:04}@c.example")).collect();
    env.seed_users("c", &many, "2026-01-20T00:00:00Z").await;
    let licensed = ["zz1@c.example", "zz2@c.example", "zz3@c.example"];
    let at = "2026-02-01T00:00:00Z";
    env.licensed("c", &licensed, at).await;
    let (found, sizes) = every_page(&env, "/v1/orgs/c/users?licence_status=active&limit=2", at).await;
    assert_eq!(found, licensed);
    assert_eq!(sizes.first(), Some(&0), "the first page read a bounded share of the 1,500 and found none: {sizes:?}");
    assert_eq!(sizes.iter().filter(|n| **n > 0).copied().collect::<Vec<_>>(), [2, 1]);
    // Without a filter the list is the plain query: full pages.
    let first = env.get("/v1/orgs/c/users?limit=500").by(&cm("c")).at(at).send().await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 500);
    let (prefixed, _) = every_page(&env, "/v1/orgs/c/users?email_prefix=a14&licence_status=none&limit=40", at).await;
    assert_eq!(prefixed, (1400..1500).map(|i| format!("a{i:04}@c.example")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_users_enrolments_are_listed_with_their_status_now() {
    let env = TestEnv::new().await;
    env.partner_with_company("p", "c").await;
    env.org("c2", "company", "p").await;
    let platform = platform("c");
    env.users("c", ["w@c.example", "w@c.example.org"]).by(&platform).await;
    let may = "2026-05-01T00:00:00Z";
    for (e, id, body) in [
        (
            "w@c.example",
            "run-1",
            json!({"status": "active", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}),
        ),
        ("w@c.example", "run-2", json!({"status": "new"})),
        ("w@c.example", "run-3", json!({"status": "expired"})),
        ("w@c.example.org", "other", json!({"status": "active"})),
    ] {
        env.enrol("c", e, id, body, may).await;
    }
    let july = "2026-07-01T00:00:00Z";
    let list = env.get("/v1/orgs/c/users/W@C.example/enrolments").by(&platform).at(july).send().await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let items = list.body["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, bool)> = items
        .iter()
        .map(|e| (e["enrolment_id"].as_str().unwrap(), e["status"].as_str().unwrap(), e["live"].as_bool().unwrap()))
        .collect();
    // run-1 ended on 1 June (no sweep has run): expired now.
    assert_eq!(seen, [("run-1", "expired", false), ("run-2", "new", true), ("run-3", "expired", false)]);
    assert_eq!(items[0]["starts_at"], "2026-01-01T00:00:00Z");
    assert_eq!(items[0]["ends_at"], "2026-06-01T00:00:00Z");
    assert_eq!(list.body["next_cursor"], Value::Null);
    let in_may = env.get("/v1/orgs/c/users/w@c.example/enrolments").by(&cm("c")).at(may).send().await;
    assert_eq!(in_may.body["items"][0]["status"], "active");

    let (pages, sizes) = {
        let mut ids = Vec::new();
        let mut sizes = Vec::new();
        for page in env.pages("/v1/orgs/c/users/w@c.example/enrolments?limit=2", &cm("c"), july).await {
            let items = page.body["items"].as_array().unwrap();
            sizes.push(items.len());
            ids.extend(items.iter().map(|e| e["enrolment_id"].as_str().unwrap().to_string()));
        }
        (ids, sizes)
    };
    assert_eq!((pages, sizes), (vec!["run-1".to_string(), "run-2".into(), "run-3".into()], vec![2, 1]));

    let unknown = env.get("/v1/orgs/c/users/nobody@c.example/enrolments").by(&cm("c")).send().await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let learner = Who::new("learner", "c");
    let refused = env.get(&format!("/v1/orgs/c/users/{}/enrolments", learner.email)).by(&learner).send().await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let elsewhere = env.get("/v1/orgs/c/users/w@c.example/enrolments").by(&cm("c2")).send().await;
    assert_eq!((elsewhere.status, elsewhere.code()), (404, "not_found"));
    assert_eq!(elsewhere.body.as_object().unwrap().keys().collect::<Vec<_>>(), ["error"]);
    let bad = env.get("/v1/orgs/c/users/not-an-email/enrolments").by(&cm("c")).send().await;
    assert_eq!(bad.status, 400);
}

/// How many `users.renewable_set` audit entries the company has.
async fn renewable_audits(env: &TestEnv, org: &str) -> usize {
    env.partition(&format!("ORG#{org}"))
        .await
        .iter()
        .filter(|i| i.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) == Some("audit"))
        .filter(|i| i.get("action").and_then(|t| t.as_s().ok()).map(String::as_str) == Some("users.renewable_set"))
        .count()
}

/// Which of `emails` are renewable now.
async fn renewable(env: &TestEnv, emails: &[String]) -> Vec<bool> {
    let mut flags = Vec::new();
    for e in emails {
        let u = env.get(&format!("/v1/orgs/c/users/{e}")).by(&cm("c")).send().await;
        assert_eq!(u.status, 200, "{e}: {:?}", u.body);
        flags.push(u.body["renewable"].as_bool().unwrap());
    }
    flags
}

async fn company_with_users(env: &TestEnv, n: usize) -> Vec<String> {
    env.partner_with_company("p", "c").await;
    let emails: Vec<String> = (0..n).map(|i| format!("u{i:02}@c.example")).collect();
    env.seed_users("c", &emails, "2026-01-01T00:00:00Z").await;
    emails
}

#[tokio::test]
async fn setting_renewable_twice_under_one_key_answers_once_with_one_audit_entry() {
    let env = TestEnv::new().await;
    let emails = company_with_users(&env, 3).await;
    let body = json!({"emails": [&emails[0], &emails[1], "ghost@c.example", "x"], "renewable": false});
    let first = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-1").json(body.clone()).send().await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["updated"], 2);
    let again = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-1").json(body).send().await;
    assert_eq!((again.status, &again.body), (200, &first.body), "the same answer");
    assert_eq!(again.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
    assert_eq!(renewable_audits(&env, "c").await, 1, "one audit entry");
    assert_eq!(renewable(&env, &emails).await, [false, false, true]);
}

#[tokio::test]
async fn another_body_under_a_used_key_is_an_idempotency_mismatch_and_changes_nothing() {
    let env = TestEnv::new().await;
    let emails = company_with_users(&env, 3).await;
    let first = env
        .post("/v1/orgs/c/users/renewable")
        .by(&cm("c"))
        .key("bulk-2")
        .json(json!({"emails": [&emails[0]], "renewable": false}))
        .send()
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    for other in [
        json!({"emails": [&emails[0]], "renewable": true}),
        json!({"emails": [&emails[1], &emails[2]], "renewable": false}),
    ] {
        let a = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-2").json(other).send().await;
        assert_eq!((a.status, a.code()), (409, "idempotency_mismatch"), "{:?}", a.body);
    }
    assert_eq!(renewable(&env, &emails).await, [false, true, true], "nothing changed");
    assert_eq!(renewable_audits(&env, "c").await, 1);
}

#[tokio::test]
async fn a_bulk_renewable_that_dies_half_way_is_finished_by_its_retry_with_one_audit_entry() {
    let env = TestEnv::new().await;
    let emails = company_with_users(&env, 10).await;
    let body = json!({"emails": emails, "renewable": false});
    let at = "2026-02-01T10:00:00Z";

    // The process dies after four users: nothing more it sends gets through (nor its release).
    // (The key's claim is the first PutItem; each user's flag is one more.)
    let (dying, log) = TestEnv::dying_after(&env, "PutItem", 5).await;
    let crashed =
        dying.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-3").json(body.clone()).at(at).send().await;
    assert!(crashed.status >= 500, "{:?}", crashed.body);
    assert!(log.take().iter().filter(|op| op.as_str() == "PutItem").count() > 5);
    let half = renewable(&env, &emails).await;
    assert_eq!(half.iter().filter(|r| !**r).count(), 4, "{half:?}");
    assert_eq!(renewable_audits(&env, "c").await, 0);

    // While its claim is live another body is still a mismatch, and the same one is in progress.
    let other = env
        .post("/v1/orgs/c/users/renewable")
        .by(&cm("c"))
        .key("bulk-3")
        .json(json!({"emails": emails, "renewable": true}))
        .at(at)
        .send()
        .await;
    assert_eq!((other.status, other.code()), (409, "idempotency_mismatch"), "{:?}", other.body);
    let twin = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-3").json(body.clone()).at(at).send().await;
    assert_eq!((twin.status, twin.code()), (409, "conflict"), "{:?}", twin.body);

    // Once the claim has ended, the retry takes the job over and finishes it.
    let later = "2026-02-01T10:01:00Z";
    let retried =
        env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-3").json(body.clone()).at(later).send().await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body["updated"], 10);
    assert_eq!(renewable(&env, &emails).await, vec![false; 10], "every user set");
    assert_eq!(renewable_audits(&env, "c").await, 1, "one audit entry in total");
    let replay = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-3").json(body).at(later).send().await;
    assert_eq!((replay.status, &replay.body), (200, &retried.body));
    assert_eq!(renewable_audits(&env, "c").await, 1);
}

#[tokio::test]
async fn a_bulk_renewable_whose_last_transaction_fails_is_retried_at_once_with_one_audit_entry() {
    let env = TestEnv::new().await;
    let emails = company_with_users(&env, 5).await;
    let body = json!({"emails": emails, "renewable": false});
    let (failing, _) = TestEnv::failing_after(&env, "TransactWriteItems", 0).await;
    let failed = failing.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-4").json(body.clone()).send().await;
    assert!(failed.status >= 500, "{:?}", failed.body);
    assert_eq!(renewable(&env, &emails).await, vec![false; 5]);
    assert_eq!(renewable_audits(&env, "c").await, 0);

    // The failed request let go of its claim: the retry need not wait for it to end.
    let retried = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-4").json(body.clone()).send().await;
    assert_eq!((retried.status, retried.body["updated"].as_u64()), (200, Some(5)), "{:?}", retried.body);
    assert_eq!(renewable_audits(&env, "c").await, 1);
    let replay = env.post("/v1/orgs/c/users/renewable").by(&cm("c")).key("bulk-4").json(body).send().await;
    assert_eq!((replay.status, &replay.body), (200, &retried.body));
    assert_eq!(renewable_audits(&env, "c").await, 1);
}

/// "Enrolments > All" (docs/api.md#users-enrolments-access): every enrolment of the company by
/// e-mail, or those of one learning experience from its index, with their status now; a status
/// filter as read; bad filters refused; enrolments stored before the index indexed once at set-up.
#[tokio::test]
async fn enrolments_all_lists_a_companys_enrolments_or_one_learning_experiences() {
    let env = TestEnv::new().await;
    env.company_with_lot(10).await;
    env.licensed("c", &["a@c.example", "b@c.example", "c@c.example"], ASSIGNED).await;
    env.enrol("c", "a@c.example", "run1", json!({"status": "active"}), ASSIGNED).await;
    env.enrol("c", "a@c.example", "run2", json!({"status": "active"}), ASSIGNED).await;
    env.enrol("c", "b@c.example", "run1", json!({"status": "new"}), ASSIGNED).await;
    let ends = json!({"status": "active", "ends_at": "2026-03-01T00:00:00Z"});
    env.enrol("c", "c@c.example", "run2", ends, ASSIGNED).await;
    let list = |query: &'static str, at: &'static str| {
        let env = &env;
        async move {
            let a = env.get(&format!("/v1/orgs/c/enrolments{query}")).by(&cm("c")).at(at).send().await;
            assert_eq!(a.status, 200, "{query}: {:?}", a.body);
            let rows = a.body["items"].as_array().unwrap().iter();
            rows.map(|r| {
                format!(
                    "{} {} {}",
                    r["email"].as_str().unwrap(),
                    r["enrolment_id"].as_str().unwrap(),
                    r["status"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
        }
    };
    let later = "2026-04-01T00:00:00Z";
    assert_eq!(list("?enrolment_id=run1", later).await, vec!["a@c.example run1 active", "b@c.example run1 new"]);
    let all = list("", later).await;
    assert_eq!(
        all,
        vec!["a@c.example run1 active", "a@c.example run2 active", "b@c.example run1 new", "c@c.example run2 expired"]
    );
    assert_eq!(list("?enrolment_id=run2&status=expired", later).await, vec!["c@c.example run2 expired"]);
    assert_eq!(list("?enrolment_id=run2&status=active", ASSIGNED).await.len(), 2, "before its end, c's run is active");

    for (query, field) in [("?status=done", "status"), ("?enrolment_id=a%20b", "enrolment_id")] {
        let bad = env.get(&format!("/v1/orgs/c/enrolments{query}")).by(&cm("c")).send().await;
        assert_eq!((bad.status, bad.body["error"]["details"]["field"].as_str()), (400, Some(field)), "{:?}", bad.body);
    }
    let partner = env.get("/v1/orgs/p/enrolments").by(&seatkeeper_tests::pm("p")).send().await;
    assert_eq!(partner.body["error"]["details"]["field"], "org_id", "a partner has no enrolments of its own");

    // An enrolment stored before the index: found by its learning experience after the set-up.
    let sk = "ENROLMENT#a@c.example#run1";
    let mut old = env.item("ORG#c", sk).await.expect("the enrolment");
    assert!(old.remove("GSI1PK").is_some() && old.remove("GSI1SK").is_some(), "a new enrolment is indexed");
    env.write_items(vec![old]).await;
    assert_eq!(list("?enrolment_id=run1", later).await, vec!["b@c.example run1 new"]);
    let migration = std::collections::HashMap::from([
        ("PK".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("ORG#vendor".into())),
        ("SK".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("MIGRATION#enrolments_by_id".into())),
    ]);
    env.app.store.client.delete_item().table_name(&env.table).set_key(Some(migration)).send().await.unwrap();
    let done = env.app.store.set_up(seatkeeper_tests::at(later)).await.unwrap();
    assert_eq!(done.enrolments_indexed, 4, "{done:?}");
    assert_eq!(list("?enrolment_id=run1", later).await.len(), 2);
    assert_eq!(env.app.store.set_up(seatkeeper_tests::at(later)).await.unwrap().enrolments_indexed, 0, "once");
}
