//! The `users` Lambda: serves its routes of `seatkeeper::http::ROUTES`, and links only their handlers.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::USERS).await
}
