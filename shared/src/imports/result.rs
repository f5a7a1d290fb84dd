//! The result file of an S3 import, `results/{org_id}/{name}.json`: the record with every row,
//! written as it is read from the stored chunks — a multipart upload of parts of
//! [`PART_BYTES`], never the whole file in memory (a file that fits one part is one `PutObject`).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::app::ImportsBucket;
use crate::domain::import::Batch;
use crate::store::{Error, Store, StoreError};

/// The size of each part but the last (S3's least is 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

fn failed(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Retryable(format!("writing {key}: {e}"))
}

/// An object written part by part as its bytes come.
struct Upload<'a> {
    bucket_cfg: &'a ImportsBucket,
    bucket: &'a str,
    key: &'a str,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl<'a> Upload<'a> {
    fn new(bucket_cfg: &'a ImportsBucket, bucket: &'a str, key: &'a str) -> Self {
        Upload { bucket_cfg, bucket, key, buffer: Vec::with_capacity(PART_BYTES), upload_id: None, parts: Vec::new() }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), StoreError> {
        let client = &self.bucket_cfg.client;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = client
                    .create_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .content_type("application/json")
                    .send()
                    .await
                    .map_err(|e| failed(self.key, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
                let id = created.upload_id().ok_or_else(|| failed(self.key, "no upload id"))?.to_string();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let sent = client
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| failed(self.key, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        self.parts
            .push(CompletedPart::builder().set_e_tag(sent.e_tag().map(str::to_string)).part_number(number).build());
        Ok(())
    }

    async fn finish(mut self) -> Result<(), StoreError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buffer);
            return self.bucket_cfg.put(self.bucket, self.key, "application/json", body).await;
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let done = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        self.bucket_cfg
            .client
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(done)
            .send()
            .await
            .map_err(|e| failed(self.key, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(())
    }
}

/// Writes the result of an import beside its file: the record (as its readers see it) with
/// every row, read from the stored chunks one at a time.
pub async fn write_result(
    store: &Store,
    bucket_cfg: &ImportsBucket,
    bucket: &str,
    result_key: &str,
    record: &Batch,
) -> Result<(), Error> {
    let head = serde_json::to_vec(&super::view(store, record).await?).map_err(|e| StoreError::Other(e.to_string()))?;
    let Some((b'}', fields)) = head.split_last() else {
        return Err(StoreError::Other("a record that is not a JSON object".into()).into());
    };
    let mut upload = Upload::new(bucket_cfg, bucket, result_key);
    upload.write(fields).await?;
    upload.write(if fields.len() > 1 { b",\"rows\":[" } else { b"\"rows\":[" }).await?;
    let (mut chunks, mut first) = (super::RowChunks::new(record), true);
    while let Some((_, rows)) = chunks.next(store).await? {
        for row in rows {
            let text = serde_json::to_vec(&row).map_err(|e| StoreError::Other(e.to_string()))?;
            upload.write(if first { b"" } else { b"," }).await?;
            upload.write(&text).await?;
            first = false;
        }
    }
    upload.write(b"]}").await?;
    Ok(upload.finish().await?)
}
