//! The `usage-report` Lambda: the usage report over HTTP, and the daily usage snapshot.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_http_and_schedule(
        &seatkeeper::handlers::functions::USAGE_REPORT,
        seatkeeper::sweeps::SNAPSHOT,
    )
    .await
}
