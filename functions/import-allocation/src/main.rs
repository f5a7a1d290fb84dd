//! The `import-allocation` Lambda: CSV imports through the API, and partner files dropped on S3.
// The runtime's service stack around the handlers is deep; the compiler's layout queries need room.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve_import::<{ seatkeeper::http::routes::function("import-allocation") }>().await
}
