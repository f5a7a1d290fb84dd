//! The `notice-mailer` Lambda: each notice on the notice bus, e-mailed with SES to its recipients.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::mail::lambda::serve().await
}
