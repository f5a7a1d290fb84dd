//! The `users` Lambda: serves its routes of `seatkeeper::http::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_http("users").await
}
