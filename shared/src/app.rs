//! What every handler shares, built once at start-up from the environment.

use crate::store::Store;

#[derive(Clone)]
pub struct App {
    pub store: Store,
}

impl App {
    pub fn new(store: Store) -> Self {
        App { store }
    }

    /// `TABLE_NAME` names the table; the SDK reads its own settings (region, credentials,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(App::new(Store::new(
            aws_sdk_dynamodb::Client::new(&config),
            table,
        )))
    }
}
