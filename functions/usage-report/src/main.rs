//! The `usage-report` Lambda: the usage report over HTTP, and the daily usage snapshot.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let snapshot = seatkeeper::sweeps::by_name("snapshot").ok_or("no such sweep")?;
    seatkeeper::lambda::serve_http_and_schedule("usage-report", snapshot).await
}
