//! The template and the code agree: the table, and which function serves which route.

use std::collections::BTreeSet;

use seatkeeper::http::ROUTES;
use seatkeeper::store::table::{TableDefinition, TEMPLATE};
use seatkeeper_tests::iam::{Deployment, Template};
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

/// Each function of the template is a crate of the workspace. What each may do is held to what
/// its binary sends by `tests/emulator.rs` (`every_scenario_passes_and_each_function_is_granted_
/// exactly_what_its_binary_sends`), not by a list here; this checks that the grants evaluate.
#[test]
fn each_function_has_a_crate_and_its_grants_evaluate_to_arns() {
    let doc = template();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert!(std::path::Path::new(&format!("{root}/functions/{binary}/Cargo.toml")).exists(), "{binary}");
    }
    let deployment = Deployment::example("notices@seatkeeper.test");
    let grants = Template::new(TEMPLATE, &deployment).grants().unwrap();
    let has = |function: &str, action: &str, resource: &str| {
        grants[function].iter().any(|g| g.action == action && g.resource == resource)
    };
    let bucket = "arn:aws:s3:::seatkeeper-imports-123456789012-eu-west-1";
    assert!(has("import-allocation", "s3:GetObjectVersion", &format!("{bucket}/imports/*")), "{grants:?}");
    assert!(has("renewals", "s3:PutObject", &format!("{bucket}/reports/*")), "{grants:?}");
    let table = "arn:aws:dynamodb:eu-west-1:123456789012:table/Table";
    assert!(has("allocate", "dynamodb:DeleteItem", table), "{grants:?}");
    let identity = "arn:aws:ses:eu-west-1:123456789012:identity/";
    assert!(has("notice-mailer", "ses:SendEmail", &format!("{identity}notices@seatkeeper.test")), "{grants:?}");
    assert!(has("notice-mailer", "ses:SendEmail", &format!("{identity}seatkeeper.test")), "{grants:?}");
    let bus = "arn:aws:events:eu-west-1:123456789012:event-bus/seatkeeper-notices";
    assert!(has("notice-publisher", "events:PutEvents", bus), "{grants:?}");
    let everything = grants.values().flatten();
    assert!(everything.clone().all(|g| !g.resource.contains("${")), "every substitution resolved: {grants:?}");
    assert!(everything.clone().all(|g| g.resource != "*" && g.action != "*"), "no wildcard grant: {grants:?}");
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

/// A failed S3 event of the import function ends in a dead-letter queue; partner files are CSV
/// and spreadsheets under `imports/`.
#[test]
fn the_import_function_takes_partner_files_and_has_a_dead_letter_queue() {
    let doc = template();
    let f = &doc["Resources"]["ImportAllocationFunction"]["Properties"];
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
    let want: BTreeSet<String> = ["expire", "renewal", "forecast", "snapshot", "leases"].map(String::from).into();
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
    // What it may send (SendEmail from its identity, the reports it attaches): tests/emulator.rs.
}

/// The imports bucket is versioned, so nothing written would ever go without rules: results and
/// reports expire after the retention the vendor sets (`ImportsRetentionDays`), and so does
/// every version a newer one or a delete replaced; expired delete markers and unfinished uploads
/// are cleared; objects belong to the bucket's account whoever wrote them.
#[test]
fn the_imports_bucket_expires_results_reports_and_old_versions_after_the_vendors_retention() {
    let doc = template();
    let parameter = &doc["Parameters"]["ImportsRetentionDays"];
    assert_eq!(parameter["Type"].as_str(), Some("Number"));
    assert!(parameter["Default"].as_u64().is_some_and(|d| d >= 1), "{parameter:?}");
    assert_eq!(parameter["MinValue"].as_u64(), Some(1), "never 0 days: {parameter:?}");
    let bucket = &doc["Resources"]["ImportsBucket"]["Properties"];
    assert_eq!(bucket["VersioningConfiguration"]["Status"].as_str(), Some("Enabled"));
    assert_eq!(bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str(), Some("BucketOwnerEnforced"));
    let retention = |v: &Value| format!("{v:?}").contains("ImportsRetentionDays");
    let rules = bucket["LifecycleConfiguration"]["Rules"].as_sequence().unwrap();
    assert!(rules.iter().all(|r| r["Status"].as_str() == Some("Enabled")), "{rules:?}");
    let mut expired = BTreeSet::new();
    for rule in rules {
        if !rule["ExpirationInDays"].is_null() {
            assert!(retention(&rule["ExpirationInDays"]), "{rule:?}");
            assert!(rule["Filter"].is_null(), "a prefix only: {rule:?}");
            expired.insert(rule["Prefix"].as_str().expect("a prefix").to_string());
        }
    }
    let want: BTreeSet<String> = ["results/", "reports/"].map(String::from).into();
    assert_eq!(expired, want, "results and reports expire, partner files under imports/ are not touched");
    let old_versions: Vec<&Value> = rules.iter().filter(|r| !r["NoncurrentVersionExpiration"].is_null()).collect();
    assert_eq!(old_versions.len(), 1, "{rules:?}");
    let rule = old_versions[0];
    assert!(rule["Prefix"].is_null() && rule["Filter"].is_null(), "every key's old versions: {rule:?}");
    assert!(retention(&rule["NoncurrentVersionExpiration"]["NoncurrentDays"]), "{rule:?}");
    assert_eq!(rule["ExpiredObjectDeleteMarker"].as_bool(), Some(true), "{rule:?}");
    assert!(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64().is_some(), "{rule:?}");
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
