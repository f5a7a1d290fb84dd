//! The `expire` Lambda: the hourly expiry sweep, "now" being the schedule event's time.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_sweep(|app, now| async move { seatkeeper::sweeps::expire::expire(&app, now).await }).await
}
