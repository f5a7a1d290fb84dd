//! The `renewal-sweep` Lambda: the hourly automatic renewal sweep, "now" being the event's time.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_sweep(seatkeeper::sweeps::RENEWAL).await
}
