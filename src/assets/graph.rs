//! The asset graph: which assets exist, the collection each produces,
//! what it is made from, and what it depends on.

use super::AssetError;

/// What an asset is materialized from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The catalog database (the drop folder's products), through
    /// `pipeline::index`.
    Catalog,
    /// The documents of a folder under `data/kb/`, through
    /// `pipeline::documents`.
    Documents { folder: &'static str },
}

/// One asset of the graph.
#[derive(Debug, Clone, Copy)]
pub struct AssetSpec {
    pub name: &'static str,
    /// The collection it produces.
    pub collection: &'static str,
    /// The asset whose last failure keeps this one from running.
    pub upstream: Option<&'static str>,
    pub source: Source,
}

const fn catalog(
    name: &'static str,
    collection: &'static str,
    upstream: Option<&'static str>,
) -> AssetSpec {
    AssetSpec {
        name,
        collection,
        upstream,
        source: Source::Catalog,
    }
}

const fn documents(
    name: &'static str,
    collection: &'static str,
    folder: &'static str,
) -> AssetSpec {
    AssetSpec {
        name,
        collection,
        upstream: None,
        source: Source::Documents { folder },
    }
}

/// Every asset, upstreams before the assets that depend on them.
pub static ASSETS: [AssetSpec; 6] = [
    catalog("catalog_kb", "helio-catalog", None),
    catalog("pricing_kb", "helio-pricing", Some("catalog_kb")),
    documents("regulatory_kb", "helio-regulatory", "regulatory"),
    documents("technical_kb", "helio-technical", "technical"),
    documents("sales_kb", "helio-sales", "sales"),
    // The concessionárias' tariffs (CSV tables), on the seed's own
    // schedule: daily at 06:00.
    documents("tariffs", "helio-tariffs", "tarifas"),
];

/// The spec of `asset`, or [`AssetError::Unknown`].
pub fn spec(asset: &str) -> Result<&'static AssetSpec, AssetError> {
    ASSETS
        .iter()
        .find(|a| a.name == asset)
        .ok_or_else(|| AssetError::Unknown(asset.to_string()))
}

/// The names of the assets fed by the drop folder: what a new catalog
/// file refreshes.
pub fn catalog_assets() -> impl Iterator<Item = &'static str> {
    ASSETS
        .iter()
        .filter(|a| a.source == Source::Catalog)
        .map(|a| a.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_come_first_and_exist() {
        for (i, a) in ASSETS.iter().enumerate() {
            if let Some(up) = a.upstream {
                let at = ASSETS.iter().position(|u| u.name == up).unwrap();
                assert!(at < i, "{} before its upstream {up}", a.name);
            }
        }
        assert_eq!(
            catalog_assets().collect::<Vec<_>>(),
            ["catalog_kb", "pricing_kb"]
        );
        assert!(matches!(spec("nope"), Err(AssetError::Unknown(_))));
    }
}
