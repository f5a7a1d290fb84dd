//! The `renewal-sweep` Lambda: the hourly automatic renewal sweep, "now" being the event's time.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::RENEWAL_SWEEP).await
}
