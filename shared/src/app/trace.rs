//! What each AWS request asks of IAM, written down as it is sent: when `SEATKEEPER_AWS_TRACE`
//! names a file, every client [`super::sdk_config`]'s users build carries an interceptor that
//! appends, for each operation, one JSON line per permission it needs — the IAM action and the
//! resource it is checked on (an ARN without its `arn:partition:service:region:account:`
//! head). A `TransactWriteItems` needs `PutItem`, `UpdateItem`, `DeleteItem` or
//! `ConditionCheckItem` on each item's table; a `GetObject` of a version needs
//! `s3:GetObjectVersion`, of the current object `s3:GetObject`; a multipart upload is
//! `s3:PutObject`; `ses:SendEmail` is checked on the sender's identity (the address, or its
//! domain when that is what is verified: either, so both are written as alternatives) and on
//! the configuration set it names.
//!
//! The emulator test runs each function's own binary with the variable set and holds
//! `infra/template.yaml` to what it wrote, both ways. Unset (as deployed), no interceptor is
//! added and nothing is written.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde::{Deserialize, Serialize};

/// The environment variable naming the file the trace is appended to.
pub const ENV: &str = "SEATKEEPER_AWS_TRACE";

/// One permission an operation needs: `action` on any one of `resources` (most name one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Access {
    /// The API operation that needs it (`TransactWriteItems`).
    pub operation: String,
    /// The IAM action (`dynamodb:PutItem`).
    pub action: String,
    /// The resources, without the ARN's head (`table/seatkeeper`, `bucket/key`).
    pub resources: Vec<String>,
}

/// The permissions one operation of a service needs, from its input.
type Describe = fn(&Input) -> Vec<(String, Vec<String>)>;

/// The interceptor: each operation's permissions, appended to the trace file.
#[derive(Clone)]
pub struct Trace {
    file: Arc<Mutex<std::fs::File>>,
    describe: Describe,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

/// The trace file, opened once per process (every client appends to the same one).
fn file() -> Option<Arc<Mutex<std::fs::File>>> {
    static FILE: OnceLock<Option<Arc<Mutex<std::fs::File>>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os(ENV).filter(|p| !p.is_empty())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{ENV}={}: {e}", path.to_string_lossy()));
        Some(Arc::new(Mutex::new(file)))
    })
    .clone()
}

impl Trace {
    fn from_env(describe: Describe) -> Option<Trace> {
        file().map(|file| Trace { file, describe })
    }

    /// DynamoDB's, when `SEATKEEPER_AWS_TRACE` is set.
    pub fn dynamodb() -> Option<Trace> {
        Self::from_env(dynamodb)
    }

    /// S3's, when `SEATKEEPER_AWS_TRACE` is set.
    pub fn s3() -> Option<Trace> {
        Self::from_env(s3)
    }

    /// SES v2's, when `SEATKEEPER_AWS_TRACE` is set.
    pub fn sesv2() -> Option<Trace> {
        Self::from_env(sesv2)
    }

    /// EventBridge's, when `SEATKEEPER_AWS_TRACE` is set.
    pub fn eventbridge() -> Option<Trace> {
        Self::from_env(eventbridge)
    }
}

impl Intercept for Trace {
    fn name(&self) -> &'static str {
        "Trace"
    }

    // Once per operation (serialization comes before the retry loop), when the operation's own
    // configuration — its name — is in the bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_string(), m.name().to_string()),
            None => ("?".to_string(), "?".to_string()),
        };
        let mut lines = String::new();
        let mut accesses = (self.describe)(context.input());
        if accesses.is_empty() {
            // An operation this module does not know: written so, and never granted.
            accesses.push((format!("{service}:{operation}"), vec!["unknown".into()]));
        }
        for (action, resources) in accesses {
            let access = Access { operation: operation.clone(), action, resources };
            lines.push_str(&serde_json::to_string(&access)?);
            lines.push('\n');
        }
        // One write per operation, under the lock: lines of concurrent requests never interleave.
        let mut file = self.file.lock().map_err(|e| e.to_string())?;
        file.write_all(lines.as_bytes())?;
        Ok(())
    }
}

fn one(action: &str, resource: String) -> Vec<(String, Vec<String>)> {
    vec![(action.to_string(), vec![resource])]
}

fn table(name: Option<&str>) -> String {
    format!("table/{}", name.unwrap_or_default())
}

fn table_or_index(name: Option<&str>, index: Option<&str>) -> String {
    match index {
        Some(index) => format!("{}/index/{index}", table(name)),
        None => table(name),
    }
}

fn dynamodb(input: &Input) -> Vec<(String, Vec<String>)> {
    use aws_sdk_dynamodb::operation::*;
    if let Some(i) = input.downcast_ref::<get_item::GetItemInput>() {
        return one("dynamodb:GetItem", table(i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<put_item::PutItemInput>() {
        return one("dynamodb:PutItem", table(i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<update_item::UpdateItemInput>() {
        return one("dynamodb:UpdateItem", table(i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<delete_item::DeleteItemInput>() {
        return one("dynamodb:DeleteItem", table(i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<query::QueryInput>() {
        return one("dynamodb:Query", table_or_index(i.table_name(), i.index_name()));
    }
    if let Some(i) = input.downcast_ref::<scan::ScanInput>() {
        return one("dynamodb:Scan", table_or_index(i.table_name(), i.index_name()));
    }
    if let Some(i) = input.downcast_ref::<batch_get_item::BatchGetItemInput>() {
        let tables = i.request_items().into_iter().flat_map(|m| m.keys());
        return tables.map(|t| ("dynamodb:BatchGetItem".to_string(), vec![table(Some(t))])).collect();
    }
    if let Some(i) = input.downcast_ref::<batch_write_item::BatchWriteItemInput>() {
        let tables = i.request_items().into_iter().flat_map(|m| m.keys());
        return tables.map(|t| ("dynamodb:BatchWriteItem".to_string(), vec![table(Some(t))])).collect();
    }
    if let Some(i) = input.downcast_ref::<transact_write_items::TransactWriteItemsInput>() {
        return i
            .transact_items()
            .iter()
            .map(|item| {
                let (action, name) = match item {
                    w if w.put().is_some() => ("PutItem", w.put().map(|p| p.table_name())),
                    w if w.update().is_some() => ("UpdateItem", w.update().map(|u| u.table_name())),
                    w if w.delete().is_some() => ("DeleteItem", w.delete().map(|d| d.table_name())),
                    w => ("ConditionCheckItem", w.condition_check().map(|c| c.table_name())),
                };
                (format!("dynamodb:{action}"), vec![table(name)])
            })
            .collect();
    }
    if let Some(i) = input.downcast_ref::<transact_get_items::TransactGetItemsInput>() {
        let items = i.transact_items().iter().filter_map(|t| t.get());
        return items.map(|g| ("dynamodb:GetItem".to_string(), vec![table(Some(g.table_name()))])).collect();
    }
    if let Some(i) = input.downcast_ref::<describe_table::DescribeTableInput>() {
        return one("dynamodb:DescribeTable", table(i.table_name()));
    }
    Vec::new()
}

fn object(bucket: Option<&str>, key: Option<&str>) -> String {
    format!("{}/{}", bucket.unwrap_or_default(), key.unwrap_or_default())
}

fn s3(input: &Input) -> Vec<(String, Vec<String>)> {
    use aws_sdk_s3::operation::*;
    // A version named is s3:GetObjectVersion; the current object s3:GetObject (S3's GetObject
    // reference: neither needs the other).
    let read = |version: Option<&str>| if version.is_some() { "s3:GetObjectVersion" } else { "s3:GetObject" };
    if let Some(i) = input.downcast_ref::<get_object::GetObjectInput>() {
        return one(read(i.version_id()), object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<head_object::HeadObjectInput>() {
        return one(read(i.version_id()), object(i.bucket(), i.key()));
    }
    // A multipart upload is authorised as s3:PutObject, each of its steps.
    if let Some(i) = input.downcast_ref::<put_object::PutObjectInput>() {
        return one("s3:PutObject", object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<create_multipart_upload::CreateMultipartUploadInput>() {
        return one("s3:PutObject", object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<upload_part::UploadPartInput>() {
        return one("s3:PutObject", object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<complete_multipart_upload::CompleteMultipartUploadInput>() {
        return one("s3:PutObject", object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<abort_multipart_upload::AbortMultipartUploadInput>() {
        return one("s3:AbortMultipartUpload", object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<delete_object::DeleteObjectInput>() {
        let action = if i.version_id().is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
        return one(action, object(i.bucket(), i.key()));
    }
    if let Some(i) = input.downcast_ref::<list_objects_v2::ListObjectsV2Input>() {
        return one("s3:ListBucket", i.bucket().unwrap_or_default().to_string());
    }
    Vec::new()
}

fn sesv2(input: &Input) -> Vec<(String, Vec<String>)> {
    use aws_sdk_sesv2::operation::*;
    let Some(i) = input.downcast_ref::<send_email::SendEmailInput>() else {
        return Vec::new();
    };
    // `Name <address>` or the address alone.
    let from = i.from_email_address().unwrap_or_default();
    let address = from.rsplit_once('<').map_or(from, |(_, a)| a.trim_end_matches('>')).trim();
    let identities = match i.from_email_address_identity_arn() {
        Some(arn) => vec![arn.splitn(6, ':').nth(5).unwrap_or(arn).to_string()],
        None => {
            let domain = address.rsplit_once('@').map_or(address, |(_, d)| d);
            vec![format!("identity/{address}"), format!("identity/{domain}")]
        }
    };
    let mut needs = vec![("ses:SendEmail".to_string(), identities)];
    if let Some(set) = i.configuration_set_name() {
        needs.push(("ses:SendEmail".to_string(), vec![format!("configuration-set/{set}")]));
    }
    needs
}

fn eventbridge(input: &Input) -> Vec<(String, Vec<String>)> {
    use aws_sdk_eventbridge::operation::*;
    let Some(i) = input.downcast_ref::<put_events::PutEventsInput>() else {
        return Vec::new();
    };
    let mut buses: Vec<String> = i
        .entries()
        .iter()
        .map(|e| {
            // A bus named by its name or its ARN.
            let bus = e.event_bus_name().unwrap_or("default");
            bus.rsplit_once(":event-bus/").map_or(bus, |(_, name)| name).to_string()
        })
        .collect();
    buses.sort();
    buses.dedup();
    buses.into_iter().map(|b| ("events:PutEvents".to_string(), vec![format!("event-bus/{b}")])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

    fn input<T: std::fmt::Debug + Send + Sync + 'static>(t: T) -> Input {
        Input::erase(t)
    }

    #[test]
    fn a_transaction_needs_each_items_own_action_on_its_table() {
        let put = Put::builder().table_name("t").set_item(Some(Default::default())).build().unwrap();
        let update =
            Update::builder().table_name("t").set_key(Some(Default::default())).update_expression("SET a = :a");
        let delete = Delete::builder().table_name("u").set_key(Some(Default::default())).build().unwrap();
        let i = aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput::builder()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update.build().unwrap()).build())
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .build()
            .unwrap();
        let got = dynamodb(&input(i));
        let want =
            [("dynamodb:PutItem", "table/t"), ("dynamodb:UpdateItem", "table/t"), ("dynamodb:DeleteItem", "table/u")]
                .map(|(a, r)| (a.to_string(), vec![r.to_string()]));
        assert_eq!(got, want.to_vec());
        let q = aws_sdk_dynamodb::operation::query::QueryInput::builder().table_name("t").index_name("GSI2").build();
        assert_eq!(dynamodb(&input(q.unwrap())), one("dynamodb:Query", "table/t/index/GSI2".into()));
    }

    #[test]
    fn a_version_is_read_as_get_object_version_and_an_upload_is_a_put() {
        use aws_sdk_s3::operation::*;
        let current = get_object::GetObjectInput::builder().bucket("b").key("imports/c/x.csv").build().unwrap();
        assert_eq!(s3(&input(current)), one("s3:GetObject", "b/imports/c/x.csv".into()));
        let version = get_object::GetObjectInput::builder().bucket("b").key("k").version_id("v1").build().unwrap();
        assert_eq!(s3(&input(version)), one("s3:GetObjectVersion", "b/k".into()));
        let part = upload_part::UploadPartInput::builder().bucket("b").key("results/c/x.json").build().unwrap();
        assert_eq!(s3(&input(part)), one("s3:PutObject", "b/results/c/x.json".into()));
    }

    #[test]
    fn a_send_is_checked_on_the_senders_address_or_domain_and_its_configuration_set() {
        let i = aws_sdk_sesv2::operation::send_email::SendEmailInput::builder()
            .from_email_address("Seatkeeper <notices@example.com>")
            .configuration_set_name("notices")
            .build()
            .unwrap();
        let got = sesv2(&input(i));
        assert_eq!(got[0].1, vec!["identity/notices@example.com".to_string(), "identity/example.com".to_string()]);
        assert_eq!(got[1].1, vec!["configuration-set/notices".to_string()]);
    }

    #[test]
    fn events_are_put_on_the_bus_each_entry_names() {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/notices";
        let i = aws_sdk_eventbridge::operation::put_events::PutEventsInput::builder()
            .entries(PutEventsRequestEntry::builder().event_bus_name("notices").build())
            .entries(PutEventsRequestEntry::builder().event_bus_name(arn).build())
            .entries(PutEventsRequestEntry::builder().build())
            .build()
            .unwrap();
        let got = eventbridge(&input(i));
        let buses: Vec<&str> = got.iter().map(|(_, r)| r[0].as_str()).collect();
        assert_eq!(buses, vec!["event-bus/default", "event-bus/notices"]);
    }
}
