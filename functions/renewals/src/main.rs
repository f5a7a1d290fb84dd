//! The `renewals` Lambda: the renewal forecast over HTTP, and its monthly export on the 1st.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let export = seatkeeper::sweeps::by_name("forecast").ok_or("no such sweep")?;
    seatkeeper::lambda::serve_http_and_schedule("renewals", export).await
}
