//! The `import-allocation` Lambda: CSV imports through the API, and partner files dropped on S3.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::IMPORT_ALLOCATION).await
}
