//! The usage tree (GSI4 `TREE#{root}`): every org's item, running counts, unexpired lots and
//! overage state, keyed by the org's path, so one query reads an org and everything below it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::keys::{self, GSI4, PK, SK};
use super::records::tree_keys;
use super::{from_item, to_item, Error, PageRequest, QuerySpec, SortKey, Store, StoreError};
use crate::domain::lot::Lot;
use crate::domain::org::Org;
use crate::domain::seats::Counters;
use crate::domain::usage::UsageState;

/// What the usage tree holds of an org and the orgs below it.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub orgs: Vec<Org>,
    pub counters: HashMap<String, Counters>,
    pub lots: HashMap<String, Vec<Lot>>,
    pub usage: HashMap<String, UsageState>,
    /// Query requests it took (one unless the tree passes 1 MB).
    pub requests: usize,
}

impl Store {
    /// `org` and every org below it, with their counts, unexpired lots and overage state.
    pub async fn tree(&self, org: &Org) -> Result<Tree, Error> {
        self.tree_by_path(org.root(), org.path()).await
    }

    /// Every org of the tree under `root_id`, the root included.
    pub async fn whole_tree(&self, root_id: &str) -> Result<Tree, Error> {
        self.tree_by_path(root_id, format!("{root_id}/")).await
    }

    async fn tree_by_path(&self, root_id: &str, path: String) -> Result<Tree, Error> {
        let spec = QuerySpec::index(GSI4, keys::tree(root_id), SortKey::BeginsWith(path));
        let mut page = PageRequest { limit: 10_000, cursor: None };
        let mut tree = Tree::default();
        loop {
            let found = self.query_items(&spec, &page).await?;
            tree.requests += 1;
            for item in found.items {
                let kind = item.get(keys::TYPE).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let org_id = item
                    .get(PK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| keys::org_of(pk))
                    .unwrap_or_default()
                    .to_string();
                match kind.as_str() {
                    "org" => tree.orgs.push(from_item(item)?),
                    "counters" => {
                        // The counters item and its spread items, summed.
                        let read: Counters = from_item(item)?;
                        let summed = tree.counters.remove(&org_id).unwrap_or_default().plus(read);
                        tree.counters.insert(org_id, summed);
                    }
                    "lot" => tree.lots.entry(org_id).or_default().push(from_item(item)?),
                    "usage" => {
                        tree.usage.insert(org_id, from_item(item)?);
                    }
                    other => tracing::warn!(kind = other, "unexpected item in the usage tree"),
                }
            }
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(tree),
            }
        }
    }

    /// Records an org's overage as of the day's snapshot (a rerun the same day replaces it).
    /// An org's overage state, written over the version read (`expected`; `None`: on the
    /// condition that it has none), its version bumped; in the org's usage tree.
    pub fn put_usage_state_over(
        &self,
        org: &Org,
        state: &UsageState,
        expected: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut attrs = vec![(PK, keys::org(&org.org_id)), (SK, keys::USAGE_SK.to_string())];
        attrs.extend(tree_keys(org, keys::USAGE_SK));
        let stored = UsageState { version: state.version + 1, ..state.clone() };
        let item = to_item("usage", &stored, &attrs)?;
        let mut values = HashMap::new();
        let condition = match expected {
            None => "attribute_not_exists(PK)",
            // Written before states had versions: none stored.
            Some(0) => "attribute_not_exists(version) OR version = :v",
            Some(_) => "version = :v",
        };
        if let Some(v) = expected {
            values.insert(":v".to_string(), super::n(v as i64));
        }
        super::put_if(&self.table, item, Some(condition), &[], values)
    }

    /// An org's overage state as stored now (strongly consistent).
    pub async fn usage_state(&self, org_id: &str) -> Result<Option<UsageState>, StoreError> {
        self.get(keys::org(org_id), keys::USAGE_SK).await
    }
}
