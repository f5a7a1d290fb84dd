//! The table definition. It lives once, in `infra/template.yaml`; local runs and tests create
//! their tables from that very text, and a test compares what DynamoDB Local then describes.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;

use super::StoreError;

/// The SAM template, compiled in so the local table cannot drift from the deployed one.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// The logical id of the table in the template.
pub const TABLE_RESOURCE: &str = "Table";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
    pub projection: String,
}

/// The parts of a table that shape what the code may ask of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// (name, type), sorted.
    pub attributes: Vec<(String, String)>,
    pub hash: String,
    pub range: Option<String>,
    /// Sorted by name.
    pub indexes: Vec<Index>,
    pub ttl_attribute: Option<String>,
    pub stream_view: Option<String>,
}

fn text(v: &Value, field: &str) -> Result<String, StoreError> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::Other(format!("template: table field {field} missing")))
}

fn key_schema(v: &Value) -> Result<(String, Option<String>), StoreError> {
    let mut hash = None;
    let mut range = None;
    for k in v.as_sequence().into_iter().flatten() {
        match text(k, "KeyType")?.as_str() {
            "HASH" => hash = Some(text(k, "AttributeName")?),
            _ => range = Some(text(k, "AttributeName")?),
        }
    }
    Ok((hash.ok_or_else(|| StoreError::Other("template: no HASH key".into()))?, range))
}

impl TableDefinition {
    /// Reads the table resource of a SAM/CloudFormation template.
    pub fn from_template(template: &str) -> Result<Self, StoreError> {
        let doc: Value = serde_yaml::from_str(template).map_err(|e| StoreError::Other(format!("template: {e}")))?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get(TABLE_RESOURCE))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| StoreError::Other("template: Resources.Table.Properties missing".into()))?;
        let mut attributes = props
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|a| Ok((text(a, "AttributeName")?, text(a, "AttributeType")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        attributes.sort();
        let (hash, range) = key_schema(props.get("KeySchema").unwrap_or(&Value::Null))?;
        let mut indexes = props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|g| {
                let (hash, range) = key_schema(g.get("KeySchema").unwrap_or(&Value::Null))?;
                Ok(Index {
                    name: text(g, "IndexName")?,
                    hash,
                    range,
                    projection: g
                        .get("Projection")
                        .map(|p| text(p, "ProjectionType"))
                        .transpose()?
                        .unwrap_or_else(|| "ALL".into()),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let ttl_attribute = props
            .get("TimeToLiveSpecification")
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .map(|t| text(t, "AttributeName"))
            .transpose()?;
        let stream_view = props.get("StreamSpecification").map(|s| text(s, "StreamViewType")).transpose()?;
        Ok(TableDefinition { attributes, hash, range, indexes, ttl_attribute, stream_view })
    }

    /// The definition in the template compiled into this crate.
    pub fn from_compiled_template() -> Result<Self, StoreError> {
        Self::from_template(TEMPLATE)
    }

    /// What DynamoDB says a live table is.
    pub async fn describe(client: &Client, table: &str) -> Result<Self, StoreError> {
        let describe = client.describe_table().table_name(table);
        let out = super::send(|| describe.clone().send()).await?;
        let t = out.table.ok_or_else(|| StoreError::Other("no table description".into()))?;
        let keys = |ks: &[KeySchemaElement]| {
            let hash =
                ks.iter().find(|k| k.key_type == KeyType::Hash).map(|k| k.attribute_name.clone()).unwrap_or_default();
            let range = ks.iter().find(|k| k.key_type == KeyType::Range).map(|k| k.attribute_name.clone());
            (hash, range)
        };
        let mut attributes: Vec<_> = t
            .attribute_definitions()
            .iter()
            .map(|a| (a.attribute_name.clone(), a.attribute_type.as_str().to_string()))
            .collect();
        attributes.sort();
        let (hash, range) = keys(t.key_schema());
        let mut indexes: Vec<Index> = t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let (hash, range) = keys(g.key_schema());
                Index {
                    name: g.index_name().unwrap_or_default().to_string(),
                    hash,
                    range,
                    projection: g
                        .projection()
                        .and_then(|p| p.projection_type())
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                }
            })
            .collect();
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let describe_ttl = client.describe_time_to_live().table_name(table);
        let ttl = super::send(|| describe_ttl.clone().send()).await?;
        let ttl_attribute = ttl
            .time_to_live_description()
            .filter(|d| d.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
            .and_then(|d| d.attribute_name().map(str::to_string));
        let stream_view = t
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type().map(|v| v.as_str().to_string()));
        Ok(TableDefinition { attributes, hash, range, indexes, ttl_attribute, stream_view })
    }

    /// Creates `table` with this definition unless it exists already.
    pub async fn create(&self, client: &Client, table: &str) -> Result<bool, StoreError> {
        let exists = client.describe_table().table_name(table).send().await.is_ok();
        if exists {
            return Ok(false);
        }
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(schema_elements(&self.hash, &self.range)?));
        for (name, kind) in &self.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
        }
        for index in &self.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(schema_elements(&index.hash, &index.range)?))
                    .projection(
                        Projection::builder().projection_type(ProjectionType::from(index.projection.as_str())).build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
        }
        if let Some(view) = &self.stream_view {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
        }
        super::send(|| request.clone().send()).await?;
        if let Some(attr) = &self.ttl_attribute {
            let ttl = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attr)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let update = client.update_time_to_live().table_name(table).time_to_live_specification(ttl);
            super::send(|| update.clone().send()).await?;
        }
        Ok(true)
    }
}

/// A key schema: the hash key and, when there is one, the range key.
fn schema_elements(hash: &str, range: &Option<String>) -> Result<Vec<KeySchemaElement>, StoreError> {
    let element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))
    };
    let mut v = vec![element(hash, KeyType::Hash)?];
    if let Some(r) = range {
        v.push(element(r, KeyType::Range)?);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_table_and_its_indexes() {
        let def = TableDefinition::from_compiled_template().unwrap();
        assert_eq!(def.hash, "PK");
        assert_eq!(def.range.as_deref(), Some("SK"));
        let names: Vec<_> = def.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["GSI1", "GSI2", "GSI3", "GSI4"]);
        assert_eq!(def.ttl_attribute.as_deref(), Some("expires_at"));
    }
}
