//! The `expire` Lambda: the hourly expiry sweep, "now" being the schedule event's time.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::EXPIRE).await
}
