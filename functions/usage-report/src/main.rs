//! The `usage-report` Lambda: the usage report over HTTP, and the daily usage snapshot.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_http_and_schedule::<{ seatkeeper::http::routes::function("usage-report") }>(
        seatkeeper::sweeps::SNAPSHOT,
    )
    .await
}
