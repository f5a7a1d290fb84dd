//! The `renewals` Lambda: the renewal forecast over HTTP, and its monthly export on the 1st.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_http_and_schedule::<{ seatkeeper::http::routes::function("renewals") }>(
        seatkeeper::sweeps::FORECAST,
    )
    .await
}
