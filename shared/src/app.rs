//! What every handler shares, built once at start-up from the environment.

use crate::store::Store;

// The IAM trace the emulator test holds the template to: compiled in only with the `aws-trace`
// feature (the test build turns it on), so a deployed function carries none of it.
#[cfg(feature = "aws-trace")]
pub mod trace;
#[cfg(not(feature = "aws-trace"))]
#[path = "app/untraced.rs"]
pub mod trace;

/// The bucket partner integrations drop CSV files into (`imports/`) and results come back in
/// (`results/`).
#[derive(Clone)]
pub struct ImportsBucket {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

impl ImportsBucket {
    /// Writes `body` under `key` in `bucket` (the imports bucket, or the bucket an event names);
    /// a failure is retryable, naming the key.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), crate::store::StoreError> {
        let put = self.client.put_object().bucket(bucket).key(key).content_type(content_type).body(body.into());
        put.send().await.map_err(|e| {
            crate::store::StoreError::Retryable(format!(
                "writing {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))
        })?;
        Ok(())
    }
}

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub imports: Option<ImportsBucket>,
    /// Above how many licences to write a commit (an import's confirm, a large allocation) is
    /// answered `202` and finished in the background by the job runner (`BACKGROUND_ROWS`,
    /// default [`BACKGROUND_ROWS`]).
    pub background_rows: u64,
}

/// Licences a commit writes in the request before it goes to the background: well inside the
/// HTTP API's 30 s at the rates `bench/RESULTS.md` measures.
pub const BACKGROUND_ROWS: u64 = 5_000;

impl App {
    pub fn new(store: Store) -> Self {
        let background_rows =
            std::env::var("BACKGROUND_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(BACKGROUND_ROWS);
        App { store, imports: None, background_rows }
    }

    pub fn with_imports(mut self, imports: ImportsBucket) -> Self {
        self.imports = Some(imports);
        self
    }

    /// `TABLE_NAME` names the table; the SDK reads its own settings (region, credentials,
    /// `AWS_ENDPOINT_URL_*`).
    pub async fn from_env() -> Result<Self, String> {
        Self::from_config(&sdk_config().await)
    }

    /// As [`App::from_env`], and `BUCKET_NAME` names the imports bucket, for the functions that
    /// use it (the import and the renewals export). `S3_FORCE_PATH_STYLE=true` addresses the
    /// bucket in the path, for S3-compatible servers on loopback.
    pub async fn from_env_with_bucket() -> Result<Self, String> {
        let config = sdk_config().await;
        let app = Self::from_config(&config)?;
        Ok(match std::env::var("BUCKET_NAME") {
            Ok(bucket) => app.with_imports(ImportsBucket { client: s3_client(&config), bucket }),
            Err(_) => app,
        })
    }

    fn from_config(config: &aws_config::SdkConfig) -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        Ok(App::new(Store::new(dynamodb_client(config), table)))
    }
}

/// The SDK's settings from the environment as Lambda gives them — the region in `AWS_REGION`,
/// the function's credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`, and an endpoint of a service's own in `AWS_ENDPOINT_URL_{SERVICE}` (or
/// `AWS_ENDPOINT_URL`) — with the one HTTPS client every AWS client here uses: hyper 1 and
/// rustls over ring. Each client built from it here (`dynamodb_client`, `s3_client`,
/// `eventbridge_client`, `mail::ses::client`) carries the [`trace::Trace`] interceptor when
/// `SEATKEEPER_AWS_TRACE` is set.
///
/// Built directly, not by `aws_config`'s loader: the loader's chains (profile files, the
/// instance metadata service, STS for web identities and assumed roles, the container
/// endpoint) are code every bootstrap would carry and none runs on Lambda, where the
/// environment holds all of it.
///
/// The SDK's own retries are off: the one retry policy ([`crate::command::retry`]) retries
/// DynamoDB's and SES's requests, so retries never nest. The S3 and EventBridge clients, whose
/// calls nothing here retries, take the SDK's standard retry with that policy's figures.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_types::sdk_config::{SharedCredentialsProvider, TimeoutConfig};
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok();
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region.map(aws_config::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .http_client(https)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        // The loader's default: a connection that takes longer than this is refused.
        .timeout_config(TimeoutConfig::builder().connect_timeout(std::time::Duration::from_millis(3100)).build())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .service_config(EnvEndpoints)
        .build()
}

/// A service's settings from the environment, as the SDK's loader reads them: the variable of
/// the service's own (`AWS_ENDPOINT_URL_DYNAMODB`: the key's variable and the service id in
/// upper case, spaces as `_`), else the key's variable itself (`AWS_ENDPOINT_URL`).
#[derive(Debug)]
struct EnvEndpoints;

impl aws_types::service_config::LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let own = format!("{}_{}", key.env(), key.service_id().to_uppercase().replace(' ', "_"));
        std::env::var(own).or_else(|_| std::env::var(key.env())).ok().filter(|v| !v.is_empty())
    }
}

pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut conf = aws_sdk_dynamodb::config::Builder::from(config);
    if let Some(trace) = trace::Trace::dynamodb() {
        conf = conf.interceptor(trace);
    }
    aws_sdk_dynamodb::Client::from_conf(conf.build())
}

pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
    let mut conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .retry_config(crate::command::Policy::DEFAULT.sdk());
    if let Some(trace) = trace::Trace::s3() {
        conf = conf.interceptor(trace);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

pub fn eventbridge_client(config: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
    let mut conf =
        aws_sdk_eventbridge::config::Builder::from(config).retry_config(crate::command::Policy::DEFAULT.sdk());
    if let Some(trace) = trace::Trace::eventbridge() {
        conf = conf.interceptor(trace);
    }
    aws_sdk_eventbridge::Client::from_conf(conf.build())
}
