//! The template and the code agree: the table, and which function serves which route.

use std::collections::{BTreeMap, BTreeSet};

use seatkeeper::http::ROUTES;
use seatkeeper::store::table::{TableDefinition, TEMPLATE};
use seatkeeper_tests::TestEnv;
use serde_yaml::Value;

#[tokio::test]
async fn the_table_dynamodb_local_holds_is_the_templates_table() {
    let env = TestEnv::new().await;
    let live = TableDefinition::describe(&env.app.store.client, &env.table).await.unwrap();
    let template = TableDefinition::from_template(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(live, template);
    assert_eq!(live.indexes.len(), 4);
}

fn template() -> Value {
    serde_yaml::from_str(TEMPLATE).unwrap()
}

#[test]
fn every_route_is_wired_to_its_function_and_nothing_else_is() {
    let doc = template();
    let mut wired = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
        for (_, event) in resource["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                wired.insert((
                    binary.clone(),
                    p["Method"].as_str().unwrap().to_string(),
                    p["Path"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let routes: BTreeSet<_> =
        ROUTES.iter().map(|r| (r.function.to_string(), r.method.to_string(), r.path.to_string())).collect();
    assert_eq!(wired, routes);
}

/// Each function is granted exactly the table actions its code uses: reads everywhere, and
/// writes only as its handlers make them (TransactWriteItems is authorised per item action).
#[test]
fn each_function_has_a_crate_and_only_the_table_actions_it_uses() {
    let doc = template();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let reads = ["GetItem", "BatchGetItem", "Query"];
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("tenant-admin", vec!["PutItem", "DeleteItem"]),
        ("request-order", vec!["PutItem"]),
        ("assign-order", vec!["PutItem"]),
        ("users", vec!["PutItem", "UpdateItem", "DeleteItem"]),
        ("allocate", vec!["PutItem", "UpdateItem"]),
        ("import-allocation", vec!["PutItem", "UpdateItem"]),
        ("expire", vec!["PutItem", "UpdateItem"]),
        ("renewal-sweep", vec!["PutItem", "UpdateItem"]),
        ("renewals", vec!["PutItem"]),
        ("usage-report", vec!["PutItem"]),
        ("job-runner", vec!["PutItem", "UpdateItem"]),
        ("notice-mailer", vec!["PutItem", "UpdateItem"]),
    ]);
    let mut seen = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert!(std::path::Path::new(&format!("{root}/functions/{binary}/Cargo.toml")).exists(), "{binary}");
        if binary == "notice-publisher" {
            // It reads the stream (granted by the event source) and only puts events.
            let actions = &resource["Properties"]["Policies"][0]["Statement"][0]["Action"];
            assert_eq!(actions.as_sequence().unwrap().len(), 1);
            assert_eq!(actions[0].as_str(), Some("events:PutEvents"));
            continue;
        }
        let mut granted = BTreeSet::new();
        for policy in resource["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                for action in statement["Action"].as_sequence().unwrap() {
                    let action = action.as_str().unwrap();
                    if action.starts_with("dynamodb:") {
                        granted.insert(action.to_string());
                    }
                }
            }
        }
        // The mailer reads by key only (the org, its chain, a guard): no Query.
        let reads: &[&str] = if binary == "notice-mailer" { &reads[..2] } else { &reads[..] };
        let want: BTreeSet<String> =
            reads.iter().chain(expected[binary].iter()).map(|a| format!("dynamodb:{a}")).collect();
        assert_eq!(granted, want, "{binary}");
        seen.insert(binary.to_string());
    }
    seen.insert("notice-publisher".into());
    assert_eq!(seen, expected.keys().map(|k| k.to_string()).chain(["notice-publisher".to_string()]).collect());
}

#[test]
fn the_health_route_alone_skips_the_authorizer() {
    let doc = template();
    assert_eq!(doc["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"].as_str(), Some("Jwt"));
    let health = &doc["Resources"]["TenantAdminFunction"]["Properties"]["Events"]["Health"]["Properties"];
    assert_eq!(health["Auth"]["Authorizer"].as_str(), Some("NONE"));
    let table = &doc["Resources"]["Table"]["Properties"];
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
}

/// The import function reads partner files only under `imports/`, writes only under
/// `results/`, and a failed event ends in a dead-letter queue.
#[test]
fn the_import_function_reads_imports_writes_results_and_has_a_dead_letter_queue() {
    let doc = template();
    let f = &doc["Resources"]["ImportAllocationFunction"]["Properties"];
    let mut s3 = BTreeSet::new();
    for statement in f["Policies"][0]["Statement"].as_sequence().unwrap() {
        for action in statement["Action"].as_sequence().unwrap() {
            let action = action.as_str().unwrap();
            if action.starts_with("s3:") {
                let resource =
                    statement["Resource"]["Fn::Sub"].as_str().or(statement["Resource"].as_str()).map(str::to_string);
                let resource = resource.unwrap_or_else(|| format!("{:?}", statement["Resource"]));
                s3.insert((
                    action.to_string(),
                    resource.rsplit(':').next().unwrap().split_once('/').unwrap().1.to_string(),
                ));
            }
        }
    }
    let want: BTreeSet<(String, String)> =
        [("s3:GetObject", "imports/*"), ("s3:GetObjectVersion", "imports/*"), ("s3:PutObject", "results/*")]
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect();
    assert_eq!(s3, want);
    assert_eq!(f["DeadLetterQueue"]["Type"].as_str(), Some("SQS"));
    // Partner files: CSV and spreadsheets under imports/.
    for (name, suffix) in [("PartnerCsv", ".csv"), ("PartnerXlsx", ".xlsx")] {
        let event = &f["Events"][name]["Properties"];
        assert_eq!(event["Events"].as_str(), Some("s3:ObjectCreated:*"), "{name}");
        let rules: Vec<&str> = event["Filter"]["S3Key"]["Rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r["Value"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec!["imports/", suffix]);
    }
}

/// The table survives a stack deletion and a bad day; logs are JSON (the runtime adds the
/// request id); every event delivered asynchronously ends, when it keeps failing, in a queue.
#[test]
fn the_table_is_protected_logs_are_json_and_every_async_event_has_a_dead_letter_queue() {
    let doc = template();
    let table = &doc["Resources"]["Table"]["Properties"];
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(doc["Globals"]["Function"]["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let mut checked = 0;
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        for (event_name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            let what = format!("{name:?} {event_name:?}");
            match event["Type"].as_str() {
                Some("ScheduleV2") => {
                    assert_eq!(event["Properties"]["DeadLetterConfig"]["Type"].as_str(), Some("SQS"), "{what}")
                }
                Some("S3") => assert_eq!(properties["DeadLetterQueue"]["Type"].as_str(), Some("SQS"), "{what}"),
                Some("DynamoDB") => {
                    assert!(!event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"].is_null(), "{what}")
                }
                // A rule invokes asynchronously: what EventBridge cannot hand over goes to the
                // rule's queue, what the function keeps failing on to the function's.
                Some("EventBridgeRule") => {
                    assert_eq!(event["Properties"]["DeadLetterConfig"]["Type"].as_str(), Some("SQS"), "{what}");
                    assert_eq!(properties["DeadLetterQueue"]["Type"].as_str(), Some("SQS"), "{what}");
                }
                Some("HttpApi") => continue,
                other => panic!("{what}: an event of type {other:?} needs a failure destination here"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "schedules, the S3 import and the stream: {checked}");
}

/// Each schedule of the template, as Scheduler delivers it (its `Input`, the context attributes
/// filled in), handed to the entry of the function it is wired to: it must run that function's
/// sweep at the scheduled instant. A schedule that lost its `Input` sends `{}`, which is refused.
#[tokio::test]
async fn each_schedule_of_the_template_runs_its_sweep_at_its_instant() {
    let env = TestEnv::with_s3().await;
    let schedules = seatkeeper_local::schedules::compiled();
    let mut swept = BTreeSet::new();
    for schedule in &schedules {
        assert!(
            schedule.input.as_deref().is_some_and(|i| i.contains("<aws.scheduler.scheduled-time>")),
            "{} {}: the schedule's Input must carry <aws.scheduler.scheduled-time>",
            schedule.function,
            schedule.event
        );
        let entry = seatkeeper::lambda::entries::named(&schedule.function).expect("a function with an entry");
        let sweep = schedule.sweep().expect("the Input names its sweep");
        assert_eq!(entry.sweep.map(|(name, _)| name), Some(sweep.as_str()), "{} runs {sweep}", schedule.function);
        let at: chrono::DateTime<chrono::Utc> = "2027-03-01T06:00:00Z".parse().unwrap();
        let report = seatkeeper::lambda::invoke(&env.app, entry, schedule.payload(at).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", schedule.function, schedule.event));
        assert_eq!(report["now"], "2027-03-01T06:00:00Z", "{}: {report}", schedule.function);
        swept.insert(sweep);

        let without_input = seatkeeper_local::schedules::Schedule { input: None, ..schedule.clone() };
        let refused = seatkeeper::lambda::invoke(&env.app, entry, without_input.payload(at).unwrap()).await;
        let message = refused.expect_err("a payload without an instant").to_string();
        assert!(message.contains("<aws.scheduler.scheduled-time>"), "{message}");
    }
    let want: BTreeSet<String> = ["expire", "renewal", "forecast", "snapshot"].map(String::from).into();
    assert_eq!(swept, want, "every sweep has its schedule");
}

/// The notice mailer: triggered by a rule on the notice bus for every notice, granted only
/// `ses:SendEmail` from the sender's identity and the reports to attach, switched off by a
/// parameter, its sender a parameter that must be set while it is on.
#[test]
fn the_mailer_sends_from_its_identity_only_reads_reports_and_can_be_left_out() {
    let doc = template();
    let f = &doc["Resources"]["NoticeMailerFunction"];
    assert_eq!(f["Condition"].as_str(), Some("MailerDeployed"));
    assert_eq!(doc["Resources"]["MailDeadLetterQueue"]["Condition"].as_str(), Some("MailerDeployed"));
    assert_eq!(doc["Parameters"]["SendNoticeMail"]["Default"].as_str(), Some("true"));
    assert!(!doc["Rules"]["MailerNeedsASender"]["Assertions"][0]["Assert"].is_null(), "MailFrom is required while on");
    let props = &f["Properties"];
    let rule = &props["Events"]["Notices"]["Properties"];
    // `!Ref` values are tagged YAML: compared as written.
    let written = |v: &Value| format!("{v:?}");
    assert!(written(&rule["EventBusName"]).contains("\"NoticeBus\""), "{}", written(&rule["EventBusName"]));
    assert_eq!(rule["Pattern"]["source"].as_sequence().map(Vec::len), Some(1));
    assert_eq!(rule["Pattern"]["source"][0].as_str(), Some("seatkeeper"));
    assert!(written(&props["Environment"]["Variables"]["MAIL_FROM"]).contains("\"MailFrom\""));
    assert_eq!(props["EventInvokeConfig"]["MaximumRetryAttempts"].as_u64(), Some(2));
    let statements = props["Policies"][0]["Statement"].as_sequence().unwrap();
    let actions: Vec<(&str, String)> = statements
        .iter()
        .flat_map(|s| {
            let resource = format!("{:?}", s["Resource"]);
            s["Action"].as_sequence().unwrap().iter().map(move |a| (a.as_str().unwrap(), resource.clone()))
        })
        .filter(|(a, _)| !a.starts_with("dynamodb:"))
        .collect();
    assert_eq!(actions.iter().map(|a| a.0).collect::<Vec<_>>(), vec!["ses:SendEmail", "s3:GetObject"]);
    assert!(
        actions[0].1.contains(":identity/${MailFrom}") && actions[0].1.contains(":identity/${Domain}"),
        "{}",
        actions[0].1
    );
    assert!(!actions[0].1.contains('*'), "no wildcard identity: {}", actions[0].1);
    assert!(actions[1].1.contains("${ImportsBucket}/reports/*"), "{}", actions[1].1);
}

/// The string argument of an intrinsic function (`Ref`, `Sub`), written short (`!Ref X`) or long.
fn intrinsic<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    match v {
        Value::Tagged(t) if t.tag == format!("!{name}") => t.value.as_str(),
        _ => v.get(if name == "Ref" { "Ref".to_string() } else { format!("Fn::{name}") }).and_then(Value::as_str),
    }
}

/// Bounces and complaints come back: every message is sent through a configuration set whose
/// event destination reports them to EventBridge's default bus, and a rule there hands that
/// set's bounce and complaint events to the mailer (with retries and a dead-letter queue); the
/// mailer is told the set's name and may send through it.
#[test]
fn the_mailer_sends_through_a_configuration_set_whose_bounces_and_complaints_come_back_to_it() {
    let doc = template();
    let r = &doc["Resources"];
    let set = &r["MailConfigurationSet"];
    assert_eq!(set["Type"].as_str(), Some("AWS::SES::ConfigurationSet"));
    assert_eq!(set["Condition"].as_str(), Some("MailerDeployed"));
    let dest = &r["MailFeedbackDestination"];
    assert_eq!(dest["Type"].as_str(), Some("AWS::SES::ConfigurationSetEventDestination"));
    assert_eq!(intrinsic(&dest["Properties"]["ConfigurationSetName"], "Ref"), Some("MailConfigurationSet"));
    let d = &dest["Properties"]["EventDestination"];
    assert_eq!(d["Enabled"].as_bool(), Some(true));
    let types: BTreeSet<&str> =
        d["MatchingEventTypes"].as_sequence().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert_eq!(types, BTreeSet::from(["bounce", "complaint"]));
    let bus = intrinsic(&d["EventBridgeDestination"]["EventBusArn"], "Sub").unwrap();
    assert!(bus.ends_with(":event-bus/default"), "SES publishes to the default bus only: {bus}");

    let mailer = &r["NoticeMailerFunction"]["Properties"];
    assert_eq!(
        intrinsic(&mailer["Environment"]["Variables"]["MAIL_CONFIGURATION_SET"], "Ref"),
        Some("MailConfigurationSet")
    );
    let rule = &mailer["Events"]["Feedback"];
    assert_eq!(rule["Type"].as_str(), Some("EventBridgeRule"));
    let p = &rule["Properties"];
    assert!(p["EventBusName"].is_null(), "the default bus");
    assert_eq!(p["Pattern"]["source"][0].as_str(), Some("aws.ses"));
    let kinds: BTreeSet<&str> =
        p["Pattern"]["detail-type"].as_sequence().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["Email Bounced", "Email Complaint Received"]));
    let only_ours = intrinsic(&p["Pattern"]["detail"]["mail"]["tags"]["ses:configuration-set"][0], "Ref");
    assert_eq!(only_ours, Some("MailConfigurationSet"), "only this stack's messages");
    assert_eq!(p["DeadLetterConfig"]["Type"].as_str(), Some("SQS"));
    assert!(p["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some());

    let sends_through_the_set = mailer["Policies"][0]["Statement"].as_sequence().unwrap().iter().any(|s| {
        s["Action"].as_sequence().unwrap().iter().any(|a| a.as_str() == Some("ses:SendEmail"))
            && s["Resource"].as_sequence().unwrap().iter().any(|res| {
                intrinsic(res, "Sub").is_some_and(|r| r.ends_with(":configuration-set/${MailConfigurationSet}"))
            })
    });
    assert!(sends_through_the_set, "SendEmail through a configuration set is authorised on the set too");
}
