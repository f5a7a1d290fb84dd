//! The `renewals` Lambda: the renewal forecast over HTTP, and its monthly export on the 1st.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seatkeeper::lambda::serve(&seatkeeper::lambda::entries::RENEWALS).await
}
