//! The `job-runner` Lambda: long commits (a confirm or an allocation answered `202`), from the
//! table's stream, finished in the background.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::JOB_RUNNER).await
}
