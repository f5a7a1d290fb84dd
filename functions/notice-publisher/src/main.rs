//! The `notice-publisher` Lambda: stored notices, from the table's stream, to EventBridge.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_publisher().await
}
