//! The `usage-report` Lambda: the usage report over HTTP, and the hourly usage check (the day's snapshot, overage notices, upgrades).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::USAGE_REPORT).await
}
