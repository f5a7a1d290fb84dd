//! One S3 import event handled in a process of its own, as the import Lambda would, so a test
//! can kill it half-way (SIGKILL) and deliver the event again. The table and bucket come from
//! `TABLE_NAME`/`BUCKET_NAME` and the endpoints from the SDK's environment; the event is the
//! first argument, as JSON.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let event = std::env::args().nth(1).ok_or("usage: import-worker S3_EVENT_JSON")?;
    let event: aws_lambda_events::s3::S3Event = serde_json::from_str(&event)?;
    let app = seatkeeper::App::from_env_with_bucket().await?;
    let records = seatkeeper::imports::s3::handle_s3_event(&app, event).await?;
    println!("{}", serde_json::to_string(&records)?);
    Ok(())
}
