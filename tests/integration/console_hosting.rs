//! The web console's hosting in the template: a private bucket only the console's CloudFront
//! distribution reads (origin access control), `/v1/*` passed to the HTTP API uncached with the
//! caller's `Authorization`, the single-page fallback done by a viewer-request function on the
//! console's behaviour only (its JavaScript run under node), the security headers and their
//! CSP, the `DeployConsole` switch, and `infra/console-upload.sh` against a stand-in `aws`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use seatkeeper::store::table::TEMPLATE;
use serde_json::json;
use serde_yaml::Value;

const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// Forwards every viewer header (Authorization included) and query string, but not Host.
const ALL_VIEWER_EXCEPT_HOST_HEADER: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

fn template() -> Value {
    serde_yaml::from_str(TEMPLATE).unwrap()
}

/// The argument of an intrinsic function, short (`!Sub x`) or long (`Fn::Sub: x`) form.
fn call<'a>(v: &'a Value, function: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == function => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            let long = if function == "Ref" { "Ref".to_string() } else { format!("Fn::{function}") };
            m.get(long.as_str())
        }
        _ => None,
    }
}

/// `!GetAtt A.B` or `Fn::GetAtt: [A, B]`, as "A.B".
fn get_att(v: &Value) -> Option<String> {
    let arg = call(v, "GetAtt")?;
    match arg.as_sequence() {
        Some(parts) => Some(parts.iter().map(|p| p.as_str().unwrap_or_default()).collect::<Vec<_>>().join(".")),
        None => arg.as_str().map(str::to_string),
    }
}

fn reference(v: &Value) -> Option<&str> {
    call(v, "Ref").and_then(Value::as_str)
}

fn distribution(doc: &Value) -> &Value {
    let d = &doc["Resources"]["ConsoleDistribution"];
    assert_eq!(d["Type"].as_str(), Some("AWS::CloudFront::Distribution"));
    &d["Properties"]["DistributionConfig"]
}

fn origin<'a>(config: &'a Value, id: &str) -> &'a Value {
    let origins = config["Origins"].as_sequence().unwrap();
    let found: Vec<_> = origins.iter().filter(|o| o["Id"].as_str() == Some(id)).collect();
    assert_eq!(found.len(), 1, "origin {id}");
    found[0]
}

fn api_behaviour(config: &Value) -> &Value {
    let behaviours = config["CacheBehaviors"].as_sequence().unwrap();
    let found: Vec<_> = behaviours.iter().filter(|b| b["PathPattern"].as_str() == Some("/v1/*")).collect();
    assert_eq!(found.len(), 1, "one /v1/* behaviour");
    found[0]
}

#[test]
fn the_console_bucket_is_private_and_only_the_distribution_reads_it_through_oac() {
    let doc = template();
    let bucket = &doc["Resources"]["ConsoleBucket"];
    assert_eq!(bucket["Type"].as_str(), Some("AWS::S3::Bucket"));
    let p = &bucket["Properties"];
    let block = &p["PublicAccessBlockConfiguration"];
    for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[flag].as_bool(), Some(true), "{flag}");
    }
    assert!(p.get("WebsiteConfiguration").is_none(), "no website hosting: the bucket is no endpoint of its own");
    let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert!(sse["SSEAlgorithm"].as_str().is_some(), "encrypted at rest");
    assert_eq!(p["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str(), Some("BucketOwnerEnforced"));

    // One policy on the bucket; what it allows, it allows CloudFront for this distribution only.
    let policies: Vec<_> = doc["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::S3::BucketPolicy"))
        .filter(|r| reference(&r["Properties"]["Bucket"]) == Some("ConsoleBucket"))
        .collect();
    assert_eq!(policies.len(), 1);
    let mut allows = 0;
    for statement in policies[0]["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap() {
        if statement["Effect"].as_str() != Some("Allow") {
            assert_eq!(statement["Effect"].as_str(), Some("Deny"));
            continue;
        }
        allows += 1;
        assert_eq!(statement["Principal"]["Service"].as_str(), Some("cloudfront.amazonaws.com"));
        assert!(statement["Principal"].as_mapping().unwrap().len() == 1, "no other principal");
        assert_eq!(statement["Action"].as_str(), Some("s3:GetObject"), "read only");
        let source = call(&statement["Condition"]["StringEquals"]["AWS:SourceArn"], "Sub").and_then(Value::as_str);
        assert_eq!(
            source,
            Some("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ConsoleDistribution}"),
            "only this distribution"
        );
    }
    assert_eq!(allows, 1);

    // The distribution reaches the bucket through origin access control, signing every request.
    let config = distribution(&doc);
    let s3 = origin(config, "ConsoleBucket");
    assert_eq!(get_att(&s3["DomainName"]).as_deref(), Some("ConsoleBucket.RegionalDomainName"));
    assert_eq!(s3["S3OriginConfig"]["OriginAccessIdentity"].as_str(), Some(""), "no legacy OAI");
    let oac_id = get_att(&s3["OriginAccessControlId"]).unwrap();
    let oac_name = oac_id.strip_suffix(".Id").unwrap();
    let oac = &doc["Resources"][oac_name];
    assert_eq!(oac["Type"].as_str(), Some("AWS::CloudFront::OriginAccessControl"));
    let oac = &oac["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["OriginAccessControlOriginType"].as_str(), Some("s3"));
    assert_eq!(oac["SigningBehavior"].as_str(), Some("always"));
    assert_eq!(oac["SigningProtocol"].as_str(), Some("sigv4"));
    assert!(
        doc["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .all(|r| r["Type"].as_str() != Some("AWS::CloudFront::CloudFrontOriginAccessIdentity")),
        "OAC, not an origin access identity"
    );
    assert_eq!(config["DefaultCacheBehavior"]["TargetOriginId"].as_str(), Some("ConsoleBucket"));
}

#[test]
fn v1_goes_to_the_api_uncached_with_the_callers_authorization() {
    let doc = template();
    let config = distribution(&doc);
    let v1 = api_behaviour(config);
    let target = v1["TargetOriginId"].as_str().unwrap();
    let api = origin(config, target);
    assert_eq!(
        call(&api["DomainName"], "Sub").and_then(Value::as_str),
        Some("${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}")
    );
    assert_eq!(api["CustomOriginConfig"]["OriginProtocolPolicy"].as_str(), Some("https-only"));
    assert!(api.get("S3OriginConfig").is_none() && api.get("OriginAccessControlId").is_none());

    // Never cached, so no answer to one caller can be served to another tenant; every viewer
    // header but Host is forwarded, so the JWT authorizer sees the caller's Authorization.
    assert_eq!(v1["CachePolicyId"].as_str(), Some(CACHING_DISABLED));
    assert_eq!(v1["OriginRequestPolicyId"].as_str(), Some(ALL_VIEWER_EXCEPT_HOST_HEADER));
    assert!(v1.get("ForwardedValues").is_none(), "no legacy cache settings");
    assert_eq!(v1["ViewerProtocolPolicy"].as_str(), Some("https-only"), "a token never crosses plain HTTP");
    let methods: BTreeSet<&str> =
        v1["AllowedMethods"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(methods, BTreeSet::from(["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]));
    assert!(v1.get("FunctionAssociations").is_none() && v1.get("LambdaFunctionAssociations").is_none());

    // Nothing else reaches the API, and the console's behaviour caches (hashed assets).
    for b in config["CacheBehaviors"].as_sequence().unwrap() {
        if b["TargetOriginId"].as_str() == Some(target) {
            assert_eq!(b["PathPattern"].as_str(), Some("/v1/*"));
        }
    }
    assert_ne!(config["DefaultCacheBehavior"]["TargetOriginId"].as_str(), Some(target));
    assert_eq!(config["DefaultCacheBehavior"]["CachePolicyId"].as_str(), Some(CACHING_OPTIMIZED));
}

#[test]
fn the_single_page_fallback_is_a_viewer_request_function_on_the_console_only() {
    let doc = template();
    let config = distribution(&doc);
    assert!(config.get("CustomErrorResponses").is_none(), "error responses would rewrite the API's 404s too");
    let associations = config["DefaultCacheBehavior"]["FunctionAssociations"].as_sequence().unwrap();
    assert_eq!(associations.len(), 1);
    assert_eq!(associations[0]["EventType"].as_str(), Some("viewer-request"));
    assert_eq!(get_att(&associations[0]["FunctionARN"]).as_deref(), Some("ConsoleSpaFunction.FunctionARN"));
    let function = &doc["Resources"]["ConsoleSpaFunction"];
    assert_eq!(function["Type"].as_str(), Some("AWS::CloudFront::Function"));
    assert_eq!(function["Properties"]["FunctionConfig"]["Runtime"].as_str(), Some("cloudfront-js-2.0"));
    assert_eq!(function["Properties"]["AutoPublish"].as_bool(), Some(true));
}

/// The function's own code, from the template, under node with CloudFront's viewer-request
/// event shape: routes become `/index.html`, files keep their path, the rest of the request
/// is left as it came.
#[test]
fn the_spa_function_sends_routes_to_index_html_and_leaves_files_alone() {
    let doc = template();
    let code = doc["Resources"]["ConsoleSpaFunction"]["Properties"]["FunctionCode"].as_str().unwrap();
    assert!(code.len() < 10 * 1024, "CloudFront Functions hold at most 10 KB");
    let cases = [
        ("/companies/globex/licences", "/index.html"),
        ("/assets/index-abc.js", "/assets/index-abc.js"),
        ("/", "/index.html"),
        ("/licences", "/index.html"),
        ("/orders", "/index.html"),
        ("/orders/", "/index.html"),
        // ids and e-mails in a route: a dot there is no file extension
        ("/companies/acme.co", "/index.html"),
        ("/companies/globex/users/ann@globex.com", "/index.html"),
        ("/index.html", "/index.html"),
        ("/config.json", "/config.json"),
        ("/favicon.ico", "/favicon.ico"),
        ("/assets/index-abc.css", "/assets/index-abc.css"),
        ("/assets/logo-abc.svg", "/assets/logo-abc.svg"),
        ("/assets/inter-abc.woff2", "/assets/inter-abc.woff2"),
    ];
    let events: Vec<_> = cases
        .iter()
        .map(|(uri, _)| {
            json!({
                "version": "1.0",
                "context": {"eventType": "viewer-request"},
                "viewer": {"ip": "198.51.100.7"},
                "request": {
                    "method": "GET",
                    "uri": uri,
                    "querystring": {"page": {"value": "2"}},
                    "headers": {"host": {"value": "d111.cloudfront.net"}},
                    "cookies": {}
                }
            })
        })
        .collect();
    let script = format!(
        "{code}\nconst events = JSON.parse(process.env.EVENTS);\n\
         process.stdout.write(JSON.stringify(events.map((e) => handler(e))));\n"
    );
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .env("EVENTS", serde_json::to_string(&events).unwrap())
        .output()
        .expect("node runs the CloudFront Function's code");
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let returned: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(returned.len(), cases.len());
    for ((uri, want), (request, event)) in cases.iter().zip(returned.iter().zip(&events)) {
        assert_eq!(request["uri"], *want, "{uri}");
        let mut sent = event["request"].clone();
        sent["uri"] = json!(want);
        assert_eq!(*request, sent, "{uri}: the request is returned, only its uri changed");
    }
}

/// Just enough of CloudFormation's intrinsic functions to read the CSP: Ref (parameters), Sub,
/// Join, Select, Split, If, Equals.
struct Stack<'a> {
    doc: &'a Value,
    parameters: BTreeMap<String, String>,
}

impl<'a> Stack<'a> {
    fn new(doc: &'a Value, overrides: &[(&str, &str)]) -> Self {
        let mut parameters: BTreeMap<String, String> = doc["Parameters"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), v["Default"].as_str().unwrap_or_default().to_string()))
            .collect();
        for (k, v) in overrides {
            assert!(parameters.contains_key(*k), "parameter {k}");
            parameters.insert(k.to_string(), v.to_string());
        }
        Stack { doc, parameters }
    }

    fn condition(&self, name: &str) -> bool {
        let c = &self.doc["Conditions"][name];
        let pair = call(c, "Equals").and_then(Value::as_sequence).expect("an Equals condition");
        self.string(&pair[0]) == self.string(&pair[1])
    }

    fn list(&self, v: &Value) -> Vec<String> {
        if let Some(args) = call(v, "Split").and_then(Value::as_sequence) {
            let (delimiter, text) = (self.string(&args[0]), self.string(&args[1]));
            return text.split(delimiter.as_str()).map(str::to_string).collect();
        }
        v.as_sequence().expect("a list").iter().map(|i| self.string(i)).collect()
    }

    fn string(&self, v: &Value) -> String {
        if let Some(name) = reference(v) {
            return self.parameters.get(name).cloned().unwrap_or_else(|| panic!("Ref {name}"));
        }
        if let Some(arg) = call(v, "Sub") {
            let (text, vars) = match arg.as_sequence() {
                Some(pair) => (pair[0].as_str().unwrap(), Some(&pair[1])),
                None => (arg.as_str().unwrap(), None),
            };
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').unwrap() + start;
                let name = &rest[start + 2..end];
                let local = vars.and_then(|m| m.get(name));
                out.push_str(&match local {
                    Some(value) => self.string(value),
                    None => self.parameters.get(name).cloned().unwrap_or_else(|| format!("<{name}>")),
                });
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            return out;
        }
        if let Some(args) = call(v, "Join").and_then(Value::as_sequence) {
            return self.list(&args[1]).join(&self.string(&args[0]));
        }
        if let Some(args) = call(v, "Select").and_then(Value::as_sequence) {
            let index: usize = match &args[0] {
                Value::Number(n) => n.as_u64().unwrap() as usize,
                other => self.string(other).parse().unwrap(),
            };
            return self.list(&args[1]).swap_remove(index);
        }
        if let Some(args) = call(v, "If").and_then(Value::as_sequence) {
            let branch = if self.condition(args[0].as_str().unwrap()) { &args[1] } else { &args[2] };
            return self.string(branch);
        }
        v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}")).to_string()
    }
}

/// The CSP's directives, each with its sources.
fn csp(doc: &Value, overrides: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let policy = &doc["Resources"]["ConsoleSecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"];
    let text = Stack::new(doc, overrides)
        .string(&policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]);
    assert!(text.len() <= 1783, "CloudFront's limit for the CSP");
    text.split(';')
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_string);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_answer_carries_the_security_headers_and_the_csp_allows_the_issuer() {
    let doc = template();
    let policy = &doc["Resources"]["ConsoleSecurityHeadersPolicy"];
    assert_eq!(policy["Type"].as_str(), Some("AWS::CloudFront::ResponseHeadersPolicy"));
    let security = &policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let hsts = &security["StrictTransportSecurity"];
    assert!(hsts["AccessControlMaxAgeSec"].as_u64().unwrap() >= 31_536_000);
    assert_eq!(hsts["IncludeSubdomains"].as_bool(), Some(true));
    assert_eq!(security["ContentTypeOptions"]["Override"].as_bool(), Some(true), "nosniff");
    assert_eq!(security["FrameOptions"]["FrameOption"].as_str(), Some("DENY"));
    assert!(security["ReferrerPolicy"]["ReferrerPolicy"].as_str().is_some());
    for header in ["StrictTransportSecurity", "FrameOptions", "ReferrerPolicy", "ContentSecurityPolicy"] {
        assert_eq!(security[header]["Override"].as_bool(), Some(true), "{header}");
    }
    let config = distribution(&doc);
    for behaviour in [&config["DefaultCacheBehavior"], api_behaviour(config)] {
        assert_eq!(reference(&behaviour["ResponseHeadersPolicyId"]), Some("ConsoleSecurityHeadersPolicy"));
    }

    // The issuer is JwtIssuer unless ConsoleOidcIssuer says otherwise; its origin, not its path.
    let jwt = [("JwtIssuer", "https://login.example.com/realms/seatkeeper"), ("JwtAudience", "seatkeeper")];
    let directives = csp(&doc, &jwt);
    assert_eq!(directives["default-src"], set(&["'self'"]));
    assert_eq!(directives["script-src"], set(&["'self'"]));
    assert_eq!(directives["connect-src"], set(&["'self'", "https://login.example.com"]));
    assert_eq!(directives["frame-ancestors"], set(&["'none'"]));
    assert_eq!(directives["object-src"], set(&["'none'"]));
    let all: Vec<&String> = directives.values().flatten().collect();
    assert!(all.iter().all(|s| !s.starts_with("'unsafe")), "{all:?}");

    let own = [
        jwt[0],
        jwt[1],
        ("ConsoleOidcIssuer", "https://idp.example.net:8443/tenant/"),
        ("ConsoleConnectSrc", "https://sk.auth.eu-west-1.amazoncognito.com"),
    ];
    let directives = csp(&doc, &own);
    assert_eq!(
        directives["connect-src"],
        set(&["'self'", "https://idp.example.net:8443", "https://sk.auth.eu-west-1.amazoncognito.com"])
    );
    assert_eq!(directives["frame-src"], set(&["'none'"]));
    assert_eq!(directives["form-action"], set(&["'self'"]));
}

/// Names a value refers to: `Ref`, `GetAtt` and the `${…}` of a `Sub`.
fn refers_to(v: &Value, out: &mut BTreeSet<String>) {
    if let Some(name) = reference(v) {
        out.insert(name.to_string());
    } else if let Some(att) = get_att(v) {
        out.insert(att.split('.').next().unwrap().to_string());
    } else if let Some(arg) = call(v, "Sub") {
        let text = arg.as_sequence().map_or(arg, |pair| &pair[0]).as_str().unwrap_or_default();
        for piece in text.split("${").skip(1) {
            let name = piece.split('}').next().unwrap();
            out.insert(name.split('.').next().unwrap().to_string());
        }
        if let Some(pair) = arg.as_sequence() {
            refers_to(&pair[1], out);
        }
    }
    match v {
        Value::Tagged(t) => refers_to(&t.value, out),
        Value::Sequence(s) => s.iter().for_each(|i| refers_to(i, out)),
        Value::Mapping(m) => m.values().for_each(|i| refers_to(i, out)),
        _ => {}
    }
}

#[test]
fn deploy_console_false_leaves_every_piece_of_the_console_out() {
    let doc = template();
    let p = &doc["Parameters"]["DeployConsole"];
    assert_eq!(p["Default"].as_str(), Some("true"));
    let allowed: BTreeSet<&str> = p["AllowedValues"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, BTreeSet::from(["true", "false"]));
    let stack = Stack::new(&doc, &[]);
    assert!(stack.condition("ConsoleDeployed"));
    assert!(!Stack::new(&doc, &[("DeployConsole", "false")]).condition("ConsoleDeployed"));
    assert_eq!(doc["Parameters"]["ConsoleOidcScope"]["Default"].as_str(), Some("openid email profile"));
    assert!(doc["Parameters"]["ConsoleOidcClientId"].is_mapping());

    let resources = doc["Resources"].as_mapping().unwrap();
    let console: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Condition"].as_str() == Some("ConsoleDeployed"))
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    let want = set(&[
        "ConsoleBucket",
        "ConsoleBucketPolicy",
        "ConsoleOriginAccessControl",
        "ConsoleSpaFunction",
        "ConsoleSecurityHeadersPolicy",
        "ConsoleDistribution",
    ]);
    assert_eq!(console, want);
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        if resource["Type"].as_str().is_some_and(|t| t.starts_with("AWS::CloudFront::")) {
            assert!(console.contains(name), "{name} must be under ConsoleDeployed");
        }
    }
    // Whatever is not under the condition must not refer to what is.
    let outputs = doc["Outputs"].as_mapping().unwrap();
    for (name, value) in resources.iter().chain(outputs) {
        if value["Condition"].as_str() == Some("ConsoleDeployed") {
            continue;
        }
        let mut names = BTreeSet::new();
        refers_to(value, &mut names);
        let crossing: Vec<_> = names.intersection(&console).collect();
        assert!(crossing.is_empty(), "{name:?} refers to {crossing:?}, which DeployConsole=false removes");
    }
    for (output, resource) in [
        ("ConsoleUrl", "ConsoleDistribution"),
        ("ConsoleBucketName", "ConsoleBucket"),
        ("ConsoleDistributionId", "ConsoleDistribution"),
    ] {
        let o = &doc["Outputs"][output];
        assert_eq!(o["Condition"].as_str(), Some("ConsoleDeployed"), "{output}");
        let mut names = BTreeSet::new();
        refers_to(&o["Value"], &mut names);
        assert_eq!(names, set(&[resource]), "{output}");
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The upload script, against a stand-in `aws` that answers `describe-stacks` with a stack of
/// this template and records every other call, and a console whose build is up to date (an
/// `npm` that fails if called). Each file goes up with its Cache-Control, config.json is written
/// from the parameters, index.html goes last, then the two are invalidated.
#[test]
fn the_upload_script_sets_cache_control_writes_config_json_and_invalidates() {
    let script = repo().join("infra/console-upload.sh");
    let syntax = Command::new("bash").arg("-n").arg(&script).status().unwrap();
    assert!(syntax.success(), "bash -n infra/console-upload.sh");

    let dir = std::env::temp_dir().join(format!("console-upload-{}", uuid::Uuid::new_v4()));
    let bin = dir.join("bin");
    let console = dir.join("console");
    let log = dir.join("aws.log");
    let stack = json!({"Stacks": [{
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/sk/0b1c",
        "StackName": "sk",
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": "JwtIssuer", "ParameterValue": "https://login.example.com/realms/seatkeeper"},
            {"ParameterKey": "JwtAudience", "ParameterValue": "seatkeeper-console"},
            {"ParameterKey": "DeployConsole", "ParameterValue": "true"},
            {"ParameterKey": "ConsoleOidcIssuer", "ParameterValue": ""},
            {"ParameterKey": "ConsoleOidcClientId", "ParameterValue": "seatkeeper-console"},
            {"ParameterKey": "ConsoleOidcScope", "ParameterValue": "openid email profile"}
        ],
        "Outputs": [
            {"OutputKey": "ConsoleUrl", "OutputValue": "https://d111.cloudfront.net"},
            {"OutputKey": "ConsoleBucketName", "OutputValue": "sk-consolebucket-abc"},
            {"OutputKey": "ConsoleDistributionId", "OutputValue": "E2EXAMPLE"}
        ]
    }]});
    // Every key the script reads is one the template defines.
    let doc = template();
    for p in stack["Stacks"][0]["Parameters"].as_array().unwrap() {
        assert!(doc["Parameters"][p["ParameterKey"].as_str().unwrap()].is_mapping(), "{p}");
    }
    for o in stack["Stacks"][0]["Outputs"].as_array().unwrap() {
        assert!(doc["Outputs"][o["OutputKey"].as_str().unwrap()].is_mapping(), "{o}");
    }
    write(&dir.join("stack.json"), &stack.to_string());
    write(
        &bin.join("aws"),
        r#"#!/usr/bin/env bash
(IFS=$'\x1f'; printf '%s\n' "$*") >>"$FAKE/aws.log"
case "$1 $2" in
  "cloudformation describe-stacks") cat "$FAKE/stack.json" ;;
  "s3 cp") cp "$3" "$FAKE/uploaded-$(basename "$4")" ;;
  "cloudfront create-invalidation") echo I3EXAMPLE ;;
esac
"#,
    );
    write(&bin.join("npm"), "#!/usr/bin/env bash\necho \"npm $*: the build was up to date\" >&2\nexit 1\n");
    for tool in ["aws", "npm"] {
        assert!(Command::new("chmod").arg("+x").arg(bin.join(tool)).status().unwrap().success());
    }
    write(&console.join("package.json"), r#"{"name": "console", "private": true}"#);
    write(&console.join("src/main.ts"), "export {};\n");
    // Sources older than the build.
    let old = Command::new("touch")
        .args(["-d", "2020-01-01T00:00:00"])
        .arg(console.join("package.json"))
        .arg(console.join("src/main.ts"))
        .status()
        .unwrap();
    assert!(old.success());
    write(&console.join("dist/index.html"), r#"<script type="module" src="/assets/index-abc.js"></script>"#);
    write(&console.join("dist/assets/index-abc.js"), "export {};\n");
    write(&console.join("dist/favicon.ico"), "icon");
    write(&console.join("dist/config.json"), r#"{"mode": "dev"}"#);

    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg(&script)
        .arg("sk")
        .env("PATH", path)
        .env("FAKE", &dir)
        .env("CONSOLE_DIR", &console)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://d111.cloudfront.net"));

    let calls: Vec<Vec<String>> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| l.split('\x1f').map(str::to_string).collect()).collect();
    let find = |words: &[&str]| -> usize {
        let at: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| words.iter().all(|w| c.iter().any(|a| a == w)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "one call with {words:?}: {calls:?}");
        at[0]
    };
    let opt = |call: usize, name: &str| -> String {
        let c = &calls[call];
        let i = c.iter().position(|a| a == name).unwrap_or_else(|| panic!("{name} in {c:?}"));
        c[i + 1].clone()
    };
    let dist = console.join("dist");
    let dist = dist.to_str().unwrap();
    assert_eq!(calls[0][..2], ["cloudformation", "describe-stacks"]);
    assert_eq!(opt(0, "--stack-name"), "sk");

    let assets = find(&["sync", &format!("{dist}/assets"), "s3://sk-consolebucket-abc/assets"]);
    assert_eq!(opt(assets, "--cache-control"), "public, max-age=31536000, immutable");
    let rest = find(&["sync", dist, "s3://sk-consolebucket-abc"]);
    assert_eq!(opt(rest, "--cache-control"), "no-cache");
    let excluded: BTreeSet<&str> =
        calls[rest].windows(2).filter(|w| w[0] == "--exclude").map(|w| w[1].as_str()).collect();
    assert_eq!(excluded, BTreeSet::from(["assets/*", "index.html", "config.json"]));
    let config = find(&["cp", "s3://sk-consolebucket-abc/config.json"]);
    assert_eq!(opt(config, "--cache-control"), "no-cache");
    assert_eq!(opt(config, "--content-type"), "application/json");
    let index = find(&["cp", &format!("{dist}/index.html"), "s3://sk-consolebucket-abc/index.html"]);
    assert_eq!(opt(index, "--cache-control"), "no-cache");
    for call in [assets, rest, config, index] {
        assert_eq!(opt(call, "--region"), "eu-west-1", "the stack's region");
    }
    let invalidation = find(&["cloudfront", "create-invalidation"]);
    assert_eq!(opt(invalidation, "--distribution-id"), "E2EXAMPLE");
    let paths = &calls[invalidation];
    let at = paths.iter().position(|a| a == "--paths").unwrap();
    assert_eq!(paths[at + 1..at + 3], ["/index.html", "/config.json"]);
    assert!(assets < index && rest < index && config < index && index < invalidation, "index.html last: {calls:?}");
    assert_eq!(invalidation, calls.len() - 1);

    // The issuer is JwtIssuer, as ConsoleOidcIssuer is empty; dist's own config.json stays home.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("uploaded-config.json")).unwrap()).unwrap();
    assert_eq!(
        written,
        json!({
            "mode": "oidc",
            "issuer": "https://login.example.com/realms/seatkeeper",
            "client_id": "seatkeeper-console",
            "scope": "openid email profile"
        })
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
