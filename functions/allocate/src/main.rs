//! The `allocate` Lambda: serves its routes of `seatkeeper::http::ROUTES`.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_http::<{ seatkeeper::http::routes::function("allocate") }>().await
}
