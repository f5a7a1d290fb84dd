//! Import records and their rows (kept in chunks beside the record).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::keys::{self, PK, SK};
use super::{put_if, to_item, Error, QuerySpec, SortKey, Store, StoreError};
use crate::domain::import::{ImportRecord, ImportStatus, Row};
use crate::domain::user::User;

/// Rows per chunk item (well under the 400 KB item limit).
pub const ROWS_PER_CHUNK: usize = 2000;

#[derive(Serialize, Deserialize)]
struct RowChunk {
    rows: Vec<Row>,
}

fn import_sk(import_id: &str) -> String {
    format!("IMPORT#{import_id}")
}

fn rows_pk(import_id: &str) -> String {
    format!("IMPORT#{import_id}")
}

impl Store {
    pub async fn import(&self, org_id: &str, import_id: &str) -> Result<Option<ImportRecord>, StoreError> {
        self.get(keys::org(org_id), &import_sk(import_id)).await
    }

    /// Writes an import record: a new one (`expected: None`) or over the status it was read in.
    pub fn put_import(
        &self,
        record: &ImportRecord,
        expected: Option<ImportStatus>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = to_item("import", record, &[(PK, keys::org(&record.org_id)), (SK, import_sk(&record.import_id))])?;
        match expected {
            None => put_if(&self.table, item, Some("attribute_not_exists(PK)"), &[], HashMap::new()),
            Some(status) => {
                let value =
                    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                put_if(
                    &self.table,
                    item,
                    Some("#status = :expected"),
                    &[("#status", "status")],
                    HashMap::from([(":expected".to_string(), AttributeValue::S(value))]),
                )
            }
        }
    }

    /// Stores the rows of an import, chunk by chunk (a rewrite replaces them).
    pub async fn put_import_rows(&self, import_id: &str, rows: &[Row]) -> Result<(), StoreError> {
        let chunks: Vec<(usize, &[Row])> = rows.chunks(ROWS_PER_CHUNK).enumerate().collect();
        for batch in chunks.chunks(8) {
            let puts = batch.iter().map(|(i, chunk)| self.put_row_chunk(import_id, *i, chunk));
            futures::future::try_join_all(puts).await?;
        }
        Ok(())
    }

    async fn put_row_chunk(&self, import_id: &str, index: usize, rows: &[Row]) -> Result<(), StoreError> {
        let item = to_item(
            "import_rows",
            &RowChunk { rows: rows.to_vec() },
            &[(PK, rows_pk(import_id)), (SK, format!("ROWS#{index:06}"))],
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    pub async fn import_rows(&self, import_id: &str) -> Result<Vec<Row>, Error> {
        let chunks: Vec<RowChunk> =
            self.query_all(&QuerySpec::table(rows_pk(import_id), SortKey::BeginsWith("ROWS#".into()))).await?;
        Ok(chunks.into_iter().flat_map(|c| c.rows).collect())
    }

    /// Every user of an org, by e-mail.
    pub async fn all_users(&self, org_id: &str) -> Result<HashMap<String, User>, Error> {
        let users: Vec<User> =
            self.query_all(&QuerySpec::table(keys::org(org_id), SortKey::BeginsWith("USER#".into()))).await?;
        Ok(users.into_iter().map(|u| (u.email.clone(), u)).collect())
    }

    /// One licence, one write: the user item over the version read. `Ok(false)` when the user
    /// changed since it was read.
    pub async fn write_user(&self, user: &User) -> Result<bool, StoreError> {
        let mut next = user.clone();
        next.version = user.version + 1;
        let item = self.user_item(&next)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", AttributeValue::N(user.version.to_string()))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
