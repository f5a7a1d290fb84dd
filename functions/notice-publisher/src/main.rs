//! The `notice-publisher` Lambda: stored notices, from the table's stream, to EventBridge.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_publisher().await
}
