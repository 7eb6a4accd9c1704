//! The catalog database: the one place products and prices are true.
//!
//! Search collections are derived from it, never the other way round, so a
//! lost or rebuilt collection is re-synced from here ([`Catalog::pending_index`]).
//!
//! # Model
//! * A product is keyed by `(distributor, sku)`: two distributors selling
//!   the same module are two offers, which is what pricing compares.
//! * A distributor's file is a full snapshot of its offer. A product missing
//!   from the next file is *withdrawn*: kept with `available = false` and
//!   its history, never deleted, because the pricing knowledge base answers
//!   "what did it cost" after it is gone, and a product often comes back.
//! * Prices are intervals (`valid_from`, `valid_to`): at most one is open
//!   per product (a unique partial index enforces it). A new price closes
//!   the open one; a withdrawal closes it too, so the history says exactly
//!   when the offer stood, and [`Catalog::current_price`] of a withdrawn
//!   product is `None`.
//! * `content_hash` covers what the search text is built from; a product
//!   whose hash did not change is not re-embedded. Price and stock are
//!   payload, which the indexer updates without embedding.
//! * `index_marks` remembers what the indexer last wrote for each product;
//!   the indexer passes back the values it indexed (not "now"), so a
//!   snapshot landing during an index run leaves the product pending.
//!
//! Every write is one SQLite transaction: a crash or an error mid-file
//! leaves the previous snapshot whole. Times are unix seconds supplied by
//! the caller, so history is deterministic under test.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::validate::Product;
use super::values::fold;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database holds something this code would never have written.
    #[error("catalog database is corrupt: {0}")]
    Corrupt(String),
    /// The caller passed something the catalog refuses to store; nothing
    /// was written.
    #[error("invalid catalog input: {0}")]
    Invalid(String),
}

/// The file a snapshot came from, for the ingest log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The original file name, for display only: never used as a path.
    pub name: String,
    pub sha256: String,
    /// Unix seconds; recorded as the ingest's `started_at`.
    pub received_at: i64,
}

/// What one snapshot did to one distributor's offer. SKU lists are sorted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotOutcome {
    pub ingest_id: i64,
    pub distributor: String,
    /// Not in the previous offer: new, or back after a withdrawal.
    pub added: Vec<String>,
    /// In the previous offer with a different content hash (re-embed).
    pub changed: Vec<String>,
    /// In the previous offer with the same content hash; price or stock
    /// may still have changed.
    pub unchanged: Vec<String>,
    /// In the previous offer, absent from this one.
    pub withdrawn: Vec<String>,
    /// Products of the previous offer whose price moved (or appeared or
    /// disappeared).
    pub price_changes: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CatalogProduct {
    pub distributor: String,
    /// As last seen in a file; `price_brl` is the last price seen even
    /// when the product is withdrawn.
    pub product: Product,
    pub available: bool,
    pub content_hash: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PricePoint {
    pub price_brl: f64,
    pub valid_from: i64,
    /// `None` while this is the current price.
    pub valid_to: Option<i64>,
    pub ingest_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestRecord {
    pub id: i64,
    pub file: String,
    pub sha256: String,
    pub distributor: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub rows_in: usize,
    pub rows_valid: usize,
    pub rows_rejected: usize,
    pub added: usize,
    pub changed: usize,
    pub withdrawn: usize,
}

/// What the indexer wrote for one product. Build it from the
/// [`CatalogProduct`] that was indexed (`IndexMark::from`), not from a
/// fresh read, or a change made meanwhile would be marked as done.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexMark {
    pub distributor: String,
    pub sku: String,
    pub content_hash: String,
    pub available: bool,
    pub price_brl: Option<f64>,
}

impl From<&CatalogProduct> for IndexMark {
    fn from(p: &CatalogProduct) -> Self {
        IndexMark {
            distributor: p.distributor.clone(),
            sku: p.product.sku.clone(),
            content_hash: p.content_hash.clone(),
            available: p.available,
            price_brl: p.product.price_brl,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogStats {
    pub products: usize,
    pub available: usize,
    pub distributors: usize,
    pub price_points: usize,
    pub ingests: usize,
}

/// Bumped when the schema changes; an older build refuses a newer file
/// instead of writing rows the newer one would misread. Also bumped when
/// the payload the indexer writes gains a field, so that opening an older
/// database forgets its index marks and every point is rewritten once
/// (version 2: `product_type`). Unchanged texts come from the embedding
/// cache, so the rewrite costs no model time.
const SCHEMA_VERSION: i64 = 2;

/// `WITHOUT ROWID` on the keyed tables: every lookup is by key, so the
/// key *is* the storage order. `AUTOINCREMENT` on ingests so an id is never
/// reused after a delete and price points keep pointing at the right file.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ingests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    file          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    distributor   TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    rows_in       INTEGER NOT NULL,
    rows_valid    INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    added         INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    withdrawn     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ingests_sha256 ON ingests(sha256);

CREATE TABLE IF NOT EXISTS products (
    distributor  TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    data         TEXT    NOT NULL,
    available    INTEGER NOT NULL CHECK (available IN (0, 1)),
    content_hash TEXT    NOT NULL,
    price_brl    REAL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    last_ingest  INTEGER NOT NULL REFERENCES ingests(id),
    PRIMARY KEY (distributor, sku)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS prices (
    id          INTEGER PRIMARY KEY,
    distributor TEXT    NOT NULL,
    sku         TEXT    NOT NULL,
    price_brl   REAL    NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER,
    ingest_id   INTEGER NOT NULL REFERENCES ingests(id),
    FOREIGN KEY (distributor, sku) REFERENCES products(distributor, sku)
);
CREATE INDEX IF NOT EXISTS prices_key ON prices(distributor, sku);
CREATE UNIQUE INDEX IF NOT EXISTS prices_open
    ON prices(distributor, sku) WHERE valid_to IS NULL;

CREATE TABLE IF NOT EXISTS index_marks (
    distributor  TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    available    INTEGER NOT NULL,
    price_brl    REAL,
    PRIMARY KEY (distributor, sku)
) WITHOUT ROWID;
";

const PRODUCT_COLUMNS: &str =
    "p.distributor, p.sku, p.data, p.available, p.content_hash, p.first_seen, p.last_seen";

/// The catalog database behind one connection. SQLite serialises writers
/// anyway; one connection behind a mutex keeps every transaction on one
/// thread at a time without "database is locked" retries.
pub struct Catalog {
    conn: Mutex<Connection>,
}

impl Catalog {
    /// Opens or creates the database. WAL lets readers (search-side
    /// syncs, the HTTP status endpoints) run during an ingest; FULL sync
    /// because a committed snapshot must survive a power cut: the inbox
    /// file is archived right after, and then it is the only copy.
    pub fn open(path: &Path) -> Result<Catalog, CatalogError> {
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "catalog database is not in WAL mode");
        }
        Self::init(conn)
    }

    /// A private database for tests; gone when dropped.
    pub fn open_in_memory() -> Result<Catalog, CatalogError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Catalog, CatalogError> {
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(CatalogError::Corrupt(format!(
                "schema version {version} is newer than this build ({SCHEMA_VERSION})"
            )));
        }
        tx.execute_batch(SCHEMA)?;
        if (1..2).contains(&version) {
            let forgotten = tx.execute("DELETE FROM index_marks", [])?;
            tracing::info!(
                products = forgotten,
                "catalog from an older build: every product is indexed again for the new payload fields"
            );
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(Catalog {
            conn: Mutex::new(conn),
        })
    }

    /// A panic while the lock was held dropped its transaction, which
    /// rolled back, so the connection is consistent and safe to reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces `distributor`'s offer with `products`, all or nothing.
    ///
    /// Refuses an empty snapshot: a file whose every row was rejected
    /// would otherwise withdraw the distributor's whole offer.
    pub fn apply_snapshot(
        &self,
        distributor: &str,
        file: &FileMeta,
        rows_in: usize,
        rows_rejected: usize,
        products: &[Product],
        now: i64,
    ) -> Result<SnapshotOutcome, CatalogError> {
        check_snapshot(distributor, products)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

        tx.execute(
            "INSERT INTO ingests (file, sha256, distributor, started_at, finished_at,
                 rows_in, rows_valid, rows_rejected, added, changed, withdrawn)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, 0)",
            params![
                file.name,
                file.sha256,
                distributor,
                file.received_at,
                now,
                to_i64(rows_in)?,
                to_i64(products.len())?,
                to_i64(rows_rejected)?,
            ],
        )?;
        let ingest_id = tx.last_insert_rowid();

        // What the offer was: availability, content hash and open price.
        let mut previous: HashMap<String, (bool, String, Option<f64>)> = HashMap::new();
        {
            let mut stmt = tx.prepare(
                "SELECT p.sku, p.available, p.content_hash, pr.price_brl
                 FROM products p
                 LEFT JOIN prices pr ON pr.distributor = p.distributor
                     AND pr.sku = p.sku AND pr.valid_to IS NULL
                 WHERE p.distributor = ?1",
            )?;
            let rows = stmt.query_map([distributor], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?;
            for row in rows {
                let (sku, state) = row?;
                previous.insert(sku, state);
            }
        }

        let mut outcome = SnapshotOutcome {
            ingest_id,
            distributor: distributor.to_string(),
            added: Vec::new(),
            changed: Vec::new(),
            unchanged: Vec::new(),
            withdrawn: Vec::new(),
            price_changes: 0,
        };
        {
            let mut upsert = tx.prepare(
                "INSERT INTO products (distributor, sku, data, available, content_hash,
                     price_brl, first_seen, last_seen, last_ingest)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?6, ?7)
                 ON CONFLICT (distributor, sku) DO UPDATE SET
                     data = excluded.data, available = 1,
                     content_hash = excluded.content_hash,
                     price_brl = excluded.price_brl,
                     last_seen = excluded.last_seen,
                     last_ingest = excluded.last_ingest",
            )?;
            for product in products {
                let hash = content_hash(product);
                let data = serde_json::to_string(product)
                    .map_err(|e| CatalogError::Invalid(format!("{}: {e}", product.sku)))?;
                upsert.execute(params![
                    distributor,
                    product.sku,
                    data,
                    hash,
                    product.price_brl,
                    now,
                    ingest_id
                ])?;
                let sku = product.sku.clone();
                let open_price = match previous.get(&product.sku) {
                    Some((true, old_hash, open)) => {
                        if *old_hash == hash {
                            outcome.unchanged.push(sku);
                        } else {
                            outcome.changed.push(sku);
                        }
                        if *open != product.price_brl {
                            outcome.price_changes += 1;
                        }
                        *open
                    }
                    Some((false, _, open)) => {
                        outcome.added.push(sku);
                        *open
                    }
                    None => {
                        outcome.added.push(sku);
                        None
                    }
                };
                if open_price != product.price_brl {
                    set_price(
                        &tx,
                        distributor,
                        &product.sku,
                        product.price_brl,
                        now,
                        ingest_id,
                    )?;
                }
            }
        }

        let offered: HashSet<&str> = products.iter().map(|p| p.sku.as_str()).collect();
        for (sku, (available, _, open)) in &previous {
            if !*available || offered.contains(sku.as_str()) {
                continue;
            }
            tx.execute(
                "UPDATE products SET available = 0, last_ingest = ?3
                 WHERE distributor = ?1 AND sku = ?2",
                params![distributor, sku, ingest_id],
            )?;
            if open.is_some() {
                set_price(&tx, distributor, sku, None, now, ingest_id)?;
            }
            outcome.withdrawn.push(sku.clone());
        }

        outcome.added.sort();
        outcome.changed.sort();
        outcome.unchanged.sort();
        outcome.withdrawn.sort();
        tx.execute(
            "UPDATE ingests SET added = ?2, changed = ?3, withdrawn = ?4 WHERE id = ?1",
            params![
                ingest_id,
                to_i64(outcome.added.len())?,
                to_i64(outcome.changed.len())?,
                to_i64(outcome.withdrawn.len())?,
            ],
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    pub fn product(
        &self,
        distributor: &str,
        sku: &str,
    ) -> Result<Option<CatalogProduct>, CatalogError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!(
                    "SELECT {PRODUCT_COLUMNS} FROM products p
                     WHERE p.distributor = ?1 AND p.sku = ?2"
                ),
                [distributor, sku],
                RawProduct::read,
            )
            .optional()?;
        raw.map(RawProduct::into_product).transpose()
    }

    /// Ordered by distributor, then SKU.
    pub fn products(&self, only_available: bool) -> Result<Vec<CatalogProduct>, CatalogError> {
        let filter = if only_available {
            "WHERE p.available = 1"
        } else {
            ""
        };
        self.query_products(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products p {filter}
             ORDER BY p.distributor, p.sku"
        ))
    }

    /// Oldest first, in the order the points were written: ingest order is
    /// the truth even if the wall clock stepped back between two files.
    pub fn price_history(
        &self,
        distributor: &str,
        sku: &str,
    ) -> Result<Vec<PricePoint>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT price_brl, valid_from, valid_to, ingest_id FROM prices
             WHERE distributor = ?1 AND sku = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map([distributor, sku], |r| {
            Ok(PricePoint {
                price_brl: r.get(0)?,
                valid_from: r.get(1)?,
                valid_to: r.get(2)?,
                ingest_id: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The open price point; `None` for a withdrawn or unpriced product.
    pub fn current_price(&self, distributor: &str, sku: &str) -> Result<Option<f64>, CatalogError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT price_brl FROM prices
                 WHERE distributor = ?1 AND sku = ?2 AND valid_to IS NULL",
                [distributor, sku],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Newest first.
    pub fn ingests(&self, limit: usize) -> Result<Vec<IngestRecord>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, file, sha256, distributor, started_at, finished_at, rows_in,
                 rows_valid, rows_rejected, added, changed, withdrawn
             FROM ingests ORDER BY id DESC LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], |r| {
            let counts: [i64; 6] = [
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ];
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                counts,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, file, sha256, distributor, started_at, finished_at, c) = row?;
            out.push(IngestRecord {
                id,
                file,
                sha256,
                distributor,
                started_at,
                finished_at,
                rows_in: to_usize(c[0])?,
                rows_valid: to_usize(c[1])?,
                rows_rejected: to_usize(c[2])?,
                added: to_usize(c[3])?,
                changed: to_usize(c[4])?,
                withdrawn: to_usize(c[5])?,
            });
        }
        Ok(out)
    }

    /// Whether a file with these exact bytes was ever ingested, so a
    /// re-dropped file can be archived without touching the catalog.
    pub fn ingested_sha256(&self, sha256: &str) -> Result<bool, CatalogError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM ingests WHERE sha256 = ?1)",
            [sha256],
            |r| r.get(0),
        )?)
    }

    /// Products whose indexed copy is missing or stale (content hash,
    /// availability or last-seen price differ from the mark). Withdrawn
    /// products are included so the indexer can drop or flag them.
    pub fn pending_index(&self) -> Result<Vec<CatalogProduct>, CatalogError> {
        self.query_products(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products p
             LEFT JOIN index_marks m ON m.distributor = p.distributor AND m.sku = p.sku
             WHERE m.sku IS NULL
                OR m.content_hash <> p.content_hash
                OR m.available <> p.available
                OR m.price_brl IS NOT p.price_brl
             ORDER BY p.distributor, p.sku"
        ))
    }

    pub fn mark_indexed(&self, marks: &[IndexMark]) -> Result<(), CatalogError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO index_marks (distributor, sku, content_hash, available, price_brl)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (distributor, sku) DO UPDATE SET
                     content_hash = excluded.content_hash,
                     available = excluded.available,
                     price_brl = excluded.price_brl",
            )?;
            for m in marks {
                stmt.execute(params![
                    m.distributor,
                    m.sku,
                    m.content_hash,
                    m.available,
                    m.price_brl
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn stats(&self) -> Result<CatalogStats, CatalogError> {
        let conn = self.conn();
        let c: [i64; 5] = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM products),
                    (SELECT COUNT(*) FROM products WHERE available = 1),
                    (SELECT COUNT(DISTINCT distributor) FROM products),
                    (SELECT COUNT(*) FROM prices),
                    (SELECT COUNT(*) FROM ingests)",
            [],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
        )?;
        Ok(CatalogStats {
            products: to_usize(c[0])?,
            available: to_usize(c[1])?,
            distributors: to_usize(c[2])?,
            price_points: to_usize(c[3])?,
            ingests: to_usize(c[4])?,
        })
    }

    fn query_products(&self, sql: &str) -> Result<Vec<CatalogProduct>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], RawProduct::read)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_product()?);
        }
        Ok(out)
    }
}

/// Closes the open price point, if any, and opens `price`, if any.
fn set_price(
    tx: &rusqlite::Transaction<'_>,
    distributor: &str,
    sku: &str,
    price: Option<f64>,
    now: i64,
    ingest_id: i64,
) -> Result<(), CatalogError> {
    tx.prepare_cached(
        "UPDATE prices SET valid_to = ?3
         WHERE distributor = ?1 AND sku = ?2 AND valid_to IS NULL",
    )?
    .execute(params![distributor, sku, now])?;
    if let Some(price) = price {
        tx.prepare_cached(
            "INSERT INTO prices (distributor, sku, price_brl, valid_from, ingest_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![distributor, sku, price, now, ingest_id])?;
    }
    Ok(())
}

/// Checks made before the transaction opens, so a bad call writes nothing.
/// Validation already guarantees all of this for parsed files; the catalog
/// checks again because it is the last line before history is written.
fn check_snapshot(distributor: &str, products: &[Product]) -> Result<(), CatalogError> {
    if distributor.trim().is_empty() {
        return Err(CatalogError::Invalid("empty distributor".into()));
    }
    if products.is_empty() {
        return Err(CatalogError::Invalid(format!(
            "empty snapshot for {distributor}: it would withdraw the whole offer"
        )));
    }
    let mut skus = HashSet::with_capacity(products.len());
    for p in products {
        if p.sku.trim().is_empty() {
            return Err(CatalogError::Invalid(format!("line {}: empty SKU", p.line)));
        }
        if !skus.insert(p.sku.as_str()) {
            return Err(CatalogError::Invalid(format!("duplicate SKU {}", p.sku)));
        }
        // JSON has no NaN or infinity: serde_json would store `null` and
        // the value would silently come back as "not given".
        if numbers(p)
            .iter()
            .any(|(_, v)| v.is_some_and(|v| !v.is_finite()))
            || p.price_brl.is_some_and(|v| !v.is_finite())
        {
            return Err(CatalogError::Invalid(format!(
                "{}: a number is not finite",
                p.sku
            )));
        }
    }
    Ok(())
}

/// The spec fields that feed the search text, in a fixed order.
fn numbers(p: &Product) -> [(&'static str, Option<f64>); 12] {
    [
        ("power_w", p.power_w),
        ("efficiency_pct", p.efficiency_pct),
        ("voc", p.voc),
        ("vmp", p.vmp),
        ("isc", p.isc),
        ("imp", p.imp),
        ("mppt_min_v", p.mppt_min_v),
        ("mppt_max_v", p.mppt_max_v),
        ("max_dc_voltage", p.max_dc_voltage),
        ("ac_power_w", p.ac_power_w),
        ("voltage", p.voltage),
        ("phases", p.phases.map(f64::from)),
    ]
}

/// SHA-256 over a versioned, length-prefixed encoding of the fields the
/// search text is built from. Not over the JSON: field order, float
/// formatting and new fields there must not re-embed the whole catalog.
/// Excluded on purpose: the key (SKU, distributor), price and stock
/// (payload, updated without embedding) and the file line.
pub fn content_hash(p: &Product) -> String {
    let mut h = Sha256::new();
    h.update(b"helio-catalog-content-v1\n");
    let texts = [
        ("name", Some(p.name.as_str())),
        ("category", p.category.as_deref()),
        ("manufacturer", p.manufacturer.as_deref()),
        ("model", p.model.as_deref()),
        ("inmetro", p.inmetro.as_deref()),
        ("datasheet_url", p.datasheet_url.as_deref()),
    ];
    for (key, value) in texts {
        h.update(key.as_bytes());
        match value {
            Some(text) => {
                h.update(format!("={}:", text.len()).as_bytes());
                h.update(text.as_bytes());
            }
            None => h.update(b"~"),
        }
        h.update(b"\n");
    }
    let warranty = p.warranty_years.map(|w| w as f64);
    for (key, value) in numbers(p).into_iter().chain([("warranty_years", warranty)]) {
        h.update(key.as_bytes());
        match value {
            // Bits, not text: exact, and -0 folded into 0.
            Some(v) => h.update(format!("={:016x}", (v + 0.0).to_bits()).as_bytes()),
            None => h.update(b"~"),
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Lower-case hex SHA-256, the form stored in the ingest log.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The catalog key of the distributor a file belongs to.
///
/// The `distributor` column wins when every row that fills it agrees;
/// blank cells do not disagree. Column values are slugged like the file
/// stem, so "SolarTech Distribuição" in one month's file and a file named
/// `solartech-distribuicao.csv` without the column land on the same key,
/// and case or accent typos do not split one offer into two. The display
/// text stays in each product's `distributor` field.
pub fn distributor_for(file_stem: &str, products: &[Product]) -> String {
    let mut named: Option<String> = None;
    for value in products.iter().filter_map(|p| p.distributor.as_deref()) {
        let Some(key) = slug(value) else { continue };
        match &named {
            None => named = Some(key),
            Some(seen) if *seen == key => {}
            Some(_) => return slug(file_stem).unwrap_or_else(|| "unknown".into()),
        }
    }
    named
        .or_else(|| slug(file_stem))
        .unwrap_or_else(|| "unknown".into())
}

/// Lower-case ASCII, accents folded, runs of anything else as one `-`,
/// at most 64 characters; `None` when nothing is left.
fn slug(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in fold(s).chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() == 64 {
                break;
            }
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            if out.len() == 64 {
                break;
            }
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn to_i64(n: usize) -> Result<i64, CatalogError> {
    i64::try_from(n).map_err(|_| CatalogError::Invalid(format!("count {n} out of range")))
}

fn to_usize(n: i64) -> Result<usize, CatalogError> {
    usize::try_from(n).map_err(|_| CatalogError::Corrupt(format!("negative count {n}")))
}

/// A products row before its JSON is trusted.
struct RawProduct {
    distributor: String,
    sku: String,
    data: String,
    available: bool,
    content_hash: String,
    first_seen: i64,
    last_seen: i64,
}

impl RawProduct {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawProduct> {
        Ok(RawProduct {
            distributor: r.get(0)?,
            sku: r.get(1)?,
            data: r.get(2)?,
            available: r.get(3)?,
            content_hash: r.get(4)?,
            first_seen: r.get(5)?,
            last_seen: r.get(6)?,
        })
    }

    fn into_product(self) -> Result<CatalogProduct, CatalogError> {
        let product: Product = serde_json::from_str(&self.data).map_err(|e| {
            CatalogError::Corrupt(format!(
                "{}/{}: product JSON: {e}",
                self.distributor, self.sku
            ))
        })?;
        if product.sku != self.sku {
            return Err(CatalogError::Corrupt(format!(
                "{}/{}: row holds SKU {}",
                self.distributor, self.sku, product.sku
            )));
        }
        Ok(CatalogProduct {
            distributor: self.distributor,
            product,
            available: self.available,
            content_hash: self.content_hash,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn product(sku: &str, name: &str, price: Option<f64>) -> Product {
        Product {
            sku: sku.to_string(),
            name: name.to_string(),
            category: Some("Módulo Fotovoltaico".into()),
            manufacturer: Some("Canadian Solar".into()),
            model: Some(format!("M-{sku}")),
            distributor: Some("SolarTech Distribuição".into()),
            price_brl: price,
            stock: Some(10),
            power_w: Some(550.0),
            efficiency_pct: Some(21.3),
            voc: Some(49.9),
            vmp: Some(41.96),
            isc: Some(13.94),
            imp: Some(13.11),
            mppt_min_v: None,
            mppt_max_v: None,
            max_dc_voltage: Some(1500.0),
            ac_power_w: None,
            phases: None,
            voltage: None,
            inmetro: Some("004100/2021".into()),
            warranty_years: Some(12),
            datasheet_url: None,
            line: 2,
        }
    }

    fn file(name: &str, at: i64) -> FileMeta {
        FileMeta {
            name: name.to_string(),
            sha256: sha256_hex(name.as_bytes()),
            received_at: at,
        }
    }

    fn catalog() -> Catalog {
        Catalog::open_in_memory().unwrap_or_else(|e| panic!("{e}"))
    }

    fn apply(c: &Catalog, dist: &str, products: &[Product], now: i64) -> SnapshotOutcome {
        c.apply_snapshot(
            dist,
            &file("f.csv", now - 1),
            products.len() + 1,
            1,
            products,
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn ok<T>(r: Result<T, CatalogError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Shared between the ingest loop, the indexer and HTTP handlers.
    #[test]
    fn catalog_and_inbox_are_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Catalog>();
        shareable::<super::super::inbox::Inbox>();
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn snapshot_sorts_products_into_added_changed_unchanged_withdrawn() {
        let c = catalog();
        let first = apply(
            &c,
            "st",
            &[
                product("A", "Painel A", Some(100.0)),
                product("B", "Painel B", Some(200.0)),
                product("C", "Painel C", Some(300.0)),
            ],
            1000,
        );
        assert_eq!(first.added, ["A", "B", "C"]);
        assert!(first.changed.is_empty() && first.unchanged.is_empty());
        assert_eq!(first.price_changes, 0);

        let second = apply(
            &c,
            "st",
            &[
                product("A", "Painel A", Some(100.0)),
                product("B", "Painel B renomeado", Some(200.0)),
                product("D", "Painel D", Some(400.0)),
            ],
            2000,
        );
        assert_eq!(second.added, ["D"]);
        assert_eq!(second.changed, ["B"]);
        assert_eq!(second.unchanged, ["A"]);
        assert_eq!(second.withdrawn, ["C"]);

        let gone = ok(c.product("st", "C")).unwrap_or_else(|| panic!("C was deleted"));
        assert!(!gone.available);
        assert_eq!(gone.last_seen, 1000);
        assert_eq!(gone.first_seen, 1000);
        assert_eq!(ok(c.current_price("st", "C")), None);
        let history = ok(c.price_history("st", "C"));
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].valid_to, Some(2000));

        let a = ok(c.product("st", "A")).unwrap_or_else(|| panic!("A missing"));
        assert!(a.available);
        assert_eq!((a.first_seen, a.last_seen), (1000, 2000));
        assert_eq!(a.product, product("A", "Painel A", Some(100.0)));

        let available: Vec<String> = ok(c.products(true))
            .into_iter()
            .map(|p| p.product.sku)
            .collect();
        assert_eq!(available, ["A", "B", "D"]);
        assert_eq!(ok(c.products(false)).len(), 4);

        // Withdrawing again counts nothing twice.
        let third = apply(&c, "st", &[product("A", "Painel A", Some(100.0))], 3000);
        assert_eq!(third.withdrawn, ["B", "D"]);
    }

    #[test]
    fn withdrawn_product_comes_back_available_with_a_new_price_point() {
        let c = catalog();
        apply(
            &c,
            "st",
            &[product("A", "A", Some(10.0)), product("B", "B", Some(5.0))],
            100,
        );
        apply(&c, "st", &[product("B", "B", Some(5.0))], 200);
        let back = apply(
            &c,
            "st",
            &[product("A", "A", Some(10.0)), product("B", "B", Some(5.0))],
            300,
        );
        assert_eq!(back.added, ["A"]);
        assert_eq!(back.unchanged, ["B"]);
        assert_eq!(back.price_changes, 0);
        let a = ok(c.product("st", "A")).unwrap_or_else(|| panic!("A missing"));
        assert!(a.available);
        assert_eq!((a.first_seen, a.last_seen), (100, 300));
        let history = ok(c.price_history("st", "A"));
        let spans: Vec<_> = history
            .iter()
            .map(|p| (p.price_brl, p.valid_from, p.valid_to))
            .collect();
        assert_eq!(spans, [(10.0, 100, Some(200)), (10.0, 300, None)]);
        assert_eq!(ok(c.current_price("st", "A")), Some(10.0));
    }

    #[test]
    fn price_change_closes_the_old_point_and_opens_a_new_one() {
        let c = catalog();
        let first = apply(&c, "st", &[product("A", "A", Some(100.0))], 100);
        let second = apply(&c, "st", &[product("A", "A", Some(90.0))], 200);
        assert_eq!(second.unchanged, ["A"]);
        assert_eq!(second.price_changes, 1);
        let third = apply(&c, "st", &[product("A", "A", Some(90.0))], 300);
        assert_eq!(third.price_changes, 0);
        let history = ok(c.price_history("st", "A"));
        assert_eq!(
            history,
            [
                PricePoint {
                    price_brl: 100.0,
                    valid_from: 100,
                    valid_to: Some(200),
                    ingest_id: first.ingest_id
                },
                PricePoint {
                    price_brl: 90.0,
                    valid_from: 200,
                    valid_to: None,
                    ingest_id: second.ingest_id
                },
            ]
        );
        // A price that disappears closes the point.
        let fourth = apply(&c, "st", &[product("A", "A", None)], 400);
        assert_eq!(fourth.price_changes, 1);
        assert_eq!(ok(c.current_price("st", "A")), None);
        assert_eq!(ok(c.price_history("st", "A")).len(), 2);
        assert_eq!(ok(c.stats()).price_points, 2);
    }

    #[test]
    fn content_hash_ignores_price_stock_line_and_key_but_not_specs() {
        let base = product("A", "Painel", Some(100.0));
        let mut other = base.clone();
        other.price_brl = Some(1.0);
        other.stock = None;
        other.line = 99;
        other.sku = "Z".into();
        other.distributor = None;
        assert_eq!(content_hash(&base), content_hash(&other));

        let mut tweaks: Vec<Product> = Vec::new();
        let mut t = base.clone();
        t.name.push('!');
        tweaks.push(t);
        let mut t = base.clone();
        t.category = None;
        tweaks.push(t);
        let mut t = base.clone();
        t.category = Some(String::new());
        tweaks.push(t);
        let mut t = base.clone();
        t.voc = Some(50.0);
        tweaks.push(t);
        let mut t = base.clone();
        t.phases = Some(3);
        tweaks.push(t);
        let mut t = base.clone();
        t.warranty_years = None;
        tweaks.push(t);
        let mut t = base.clone();
        t.datasheet_url = Some("https://x.example/a.pdf".into());
        tweaks.push(t);
        // Moving text between fields is a change, thanks to the lengths.
        let mut t = base.clone();
        t.manufacturer = Some("Canadian".into());
        t.model = Some(format!("Solar{}", base.model.clone().unwrap_or_default()));
        tweaks.push(t);
        let mut hashes: HashSet<String> = tweaks.iter().map(content_hash).collect();
        hashes.insert(content_hash(&base));
        assert_eq!(hashes.len(), tweaks.len() + 1);
        assert_eq!(content_hash(&base).len(), 64);
    }

    #[test]
    fn failure_mid_snapshot_changes_nothing() {
        let c = catalog();
        apply(
            &c,
            "st",
            &[product("A", "A", Some(1.0)), product("B", "B", Some(2.0))],
            100,
        );
        let before = (
            ok(c.products(false)),
            ok(c.stats()),
            ok(c.price_history("st", "A")),
        );
        ok(c.conn()
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON products WHEN NEW.sku = 'FAIL'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .map_err(CatalogError::from));
        // A's price change and C's insert are written before FAIL aborts.
        let bad = [
            product("A", "A changed", Some(9.0)),
            product("C", "C", Some(3.0)),
            product("FAIL", "F", Some(4.0)),
        ];
        let err = c.apply_snapshot("st", &file("bad.csv", 200), 3, 0, &bad, 200);
        assert!(matches!(err, Err(CatalogError::Sqlite(_))), "{err:?}");
        let after = (
            ok(c.products(false)),
            ok(c.stats()),
            ok(c.price_history("st", "A")),
        );
        assert_eq!(before, after);
        assert!(!ok(c.ingested_sha256(&file("bad.csv", 0).sha256)));

        ok(c.conn()
            .execute_batch("DROP TRIGGER boom")
            .map_err(CatalogError::from));
        let good = apply(&c, "st", &bad, 300);
        assert_eq!(good.added, ["C", "FAIL"]);
        assert_eq!(good.withdrawn, ["B"]);
    }

    #[test]
    fn invalid_snapshots_write_nothing() {
        let c = catalog();
        let f = file("x.csv", 1);
        let dup = [product("A", "A", None), product("A", "A2", None)];
        let blank = [product(" ", "A", None)];
        let mut nan = product("A", "A", Some(f64::NAN));
        let inf = {
            let mut p = product("B", "B", None);
            p.voc = Some(f64::INFINITY);
            p
        };
        for (dist, products) in [
            ("st", &dup[..]),
            ("st", &blank[..]),
            ("st", std::slice::from_ref(&nan)),
            ("st", std::slice::from_ref(&inf)),
            ("st", &[][..]),
            (" ", &dup[..1]),
        ] {
            let r = c.apply_snapshot(dist, &f, 1, 0, products, 1);
            assert!(matches!(r, Err(CatalogError::Invalid(_))), "{r:?}");
        }
        nan.price_brl = Some(5.0);
        apply(&c, "st", &[nan], 2);
        assert_eq!(ok(c.stats()).ingests, 1);
    }

    #[test]
    fn ingest_log_newest_first_and_sha_lookup() {
        let c = catalog();
        let f = file("precos março.csv", 50);
        ok(c.apply_snapshot("st", &f, 5, 2, &[product("A", "A", None)], 60));
        apply(&c, "other", &[product("A", "A", Some(1.0))], 70);
        let log = ok(c.ingests(10));
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].distributor, "other");
        let first = &log[1];
        assert_eq!(first.file, "precos março.csv");
        assert_eq!((first.started_at, first.finished_at), (50, 60));
        assert_eq!(
            (first.rows_in, first.rows_valid, first.rows_rejected),
            (5, 1, 2)
        );
        assert_eq!((first.added, first.changed, first.withdrawn), (1, 0, 0));
        assert_eq!(ok(c.ingests(1)).len(), 1);
        assert!(ok(c.ingested_sha256(&f.sha256)));
        assert!(!ok(c.ingested_sha256(&sha256_hex(b"never"))));
        assert_eq!(
            ok(c.stats()),
            CatalogStats {
                products: 2,
                available: 2,
                distributors: 2,
                price_points: 1,
                ingests: 2
            }
        );
    }

    #[test]
    fn a_database_from_before_product_type_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        {
            let c = ok(Catalog::open(&path));
            apply(&c, "st", &[product("A", "A", Some(1.0))], 100);
            let marks: Vec<IndexMark> = ok(c.pending_index()).iter().map(IndexMark::from).collect();
            ok(c.mark_indexed(&marks));
            assert!(ok(c.pending_index()).is_empty());
            // What the build before `product_type` left on disk.
            ok(c.conn()
                .pragma_update(None, "user_version", 1)
                .map_err(CatalogError::from));
        }
        let c = ok(Catalog::open(&path));
        assert_eq!(ok(c.pending_index()).len(), 1);
        let marks: Vec<IndexMark> = ok(c.pending_index()).iter().map(IndexMark::from).collect();
        ok(c.mark_indexed(&marks));
        drop(c);
        // Once: a second start of the new build forgets nothing.
        assert!(ok(Catalog::open(&path).and_then(|c| c.pending_index())).is_empty());
    }

    #[test]
    fn pending_index_round_trip() {
        let c = catalog();
        apply(
            &c,
            "st",
            &[product("A", "A", Some(1.0)), product("B", "B", Some(2.0))],
            100,
        );
        let pending = ok(c.pending_index());
        assert_eq!(pending.len(), 2);
        let marks: Vec<IndexMark> = pending.iter().map(IndexMark::from).collect();
        ok(c.mark_indexed(&marks));
        assert!(ok(c.pending_index()).is_empty());

        // Same content, new stock: nothing to do.
        let mut a = product("A", "A", Some(1.0));
        a.stock = Some(0);
        apply(&c, "st", &[a.clone(), product("B", "B", Some(2.0))], 200);
        assert!(ok(c.pending_index()).is_empty());

        // Price only: pending, for the payload.
        a.price_brl = Some(1.5);
        apply(&c, "st", &[a.clone(), product("B", "B", Some(2.0))], 300);
        let pending = ok(c.pending_index());
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].product.sku, "A");

        // A snapshot landing while the indexer works keeps A pending: the
        // mark carries what was indexed, not what is current.
        let stale = IndexMark::from(&pending[0]);
        a.name = "A renamed".into();
        apply(&c, "st", &[a.clone(), product("B", "B", Some(2.0))], 400);
        ok(c.mark_indexed(&[stale]));
        assert_eq!(ok(c.pending_index()).len(), 1);

        // Withdrawal is pending too, so the index drops or flags it.
        let marks: Vec<IndexMark> = ok(c.pending_index()).iter().map(IndexMark::from).collect();
        ok(c.mark_indexed(&marks));
        apply(&c, "st", &[a], 500);
        let pending = ok(c.pending_index());
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].product.sku, "B");
        assert!(!pending[0].available);
        ok(c.mark_indexed(&[IndexMark::from(&pending[0])]));
        assert!(ok(c.pending_index()).is_empty());
    }

    #[test]
    fn distributors_are_separate_offers() {
        let c = catalog();
        apply(&c, "a", &[product("X", "X", Some(1.0))], 100);
        apply(&c, "b", &[product("X", "X", Some(2.0))], 100);
        apply(&c, "a", &[product("Y", "Y", Some(1.0))], 200);
        assert!(ok(c.product("b", "X")).is_some_and(|p| p.available));
        assert!(ok(c.product("a", "X")).is_some_and(|p| !p.available));
        assert_eq!(ok(c.current_price("b", "X")), Some(2.0));
        assert_eq!(ok(c.product("c", "X")), None);
    }

    #[test]
    fn reopening_a_file_keeps_data_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("catalog.db");
        {
            let c = ok(Catalog::open(&path));
            apply(&c, "st", &[product("A", "A", Some(1.0))], 100);
        }
        let c = ok(Catalog::open(&path));
        assert_eq!(ok(c.stats()).products, 1);
        let mode: String = ok(c
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(CatalogError::from));
        assert_eq!(mode, "wal");
        ok(c.conn()
            .pragma_update(None, "user_version", 99)
            .map_err(CatalogError::from));
        drop(c);
        assert!(matches!(
            Catalog::open(&path),
            Err(CatalogError::Corrupt(_))
        ));
    }

    #[test]
    fn corrupt_json_is_reported_not_panicked() {
        let c = catalog();
        apply(&c, "st", &[product("A", "A", None)], 100);
        ok(c.conn()
            .execute("UPDATE products SET data = '{' WHERE sku = 'A'", [])
            .map_err(CatalogError::from));
        assert!(matches!(
            c.product("st", "A"),
            Err(CatalogError::Corrupt(_))
        ));
        assert!(matches!(c.products(false), Err(CatalogError::Corrupt(_))));
    }

    #[test]
    fn distributor_for_cases() {
        let with = |d: Option<&str>| {
            let mut p = product("A", "A", None);
            p.distributor = d.map(str::to_string);
            p
        };
        let stem = "Distribuidora Sol Nascente (março)";
        assert_eq!(
            distributor_for(stem, &[]),
            "distribuidora-sol-nascente-marco"
        );
        assert_eq!(
            distributor_for(
                stem,
                &[
                    with(Some("SolarTech Distribuição")),
                    with(None),
                    with(Some(" solartech  distribuicao "))
                ]
            ),
            "solartech-distribuicao"
        );
        assert_eq!(
            distributor_for(stem, &[with(Some("SolarTech")), with(Some("Outra"))]),
            "distribuidora-sol-nascente-marco"
        );
        assert_eq!(
            distributor_for(stem, &[with(Some("   ")), with(Some("¿?"))]),
            "distribuidora-sol-nascente-marco"
        );
        assert_eq!(distributor_for("", &[]), "unknown");
        assert_eq!(distributor_for("日本語", &[]), "unknown");
        assert_eq!(distributor_for("__Preços--2024__", &[]), "precos-2024");
        let long = "a".repeat(63) + " b" + &"c".repeat(10);
        let slugged = distributor_for(&long, &[]);
        assert_eq!(slugged, "a".repeat(63));
        assert_eq!(distributor_for(&"x".repeat(100), &[]).len(), 64);
    }

    /// Random snapshots for two distributors against a model that keeps
    /// only what the contract promises: availability and the open price.
    #[test]
    fn random_snapshots_match_a_model() {
        let c = catalog();
        let mut rng = StdRng::seed_from_u64(7);
        let mut model: HashMap<(usize, usize), (bool, Option<f64>)> = HashMap::new();
        let dists = ["a", "b"];
        for step in 0..60 {
            let now = 1000 + step as i64;
            let d = rng.gen_range(0..2);
            let mut products = Vec::new();
            for sku in 0..8 {
                if rng.gen_range(0..3) > 0 {
                    let price = [None, Some(1.0), Some(2.0)][rng.gen_range(0..3)];
                    products.push(product(&format!("S{sku}"), "P", price));
                }
            }
            if products.is_empty() {
                continue;
            }
            let out = apply(&c, dists[d], &products, now);
            let mut expect_withdrawn = Vec::new();
            for sku in 0..8 {
                let offered = products.iter().find(|p| p.sku == format!("S{sku}"));
                match (offered, model.get(&(d, sku))) {
                    (Some(p), _) => {
                        model.insert((d, sku), (true, p.price_brl));
                    }
                    (None, Some((true, _))) => {
                        expect_withdrawn.push(format!("S{sku}"));
                        model.insert((d, sku), (false, None));
                    }
                    (None, _) => {}
                }
            }
            assert_eq!(out.withdrawn, expect_withdrawn);
            for ((md, sku), (available, price)) in &model {
                let key = format!("S{sku}");
                let got = ok(c.product(dists[*md], &key)).map(|p| p.available);
                assert_eq!(got, Some(*available));
                assert_eq!(ok(c.current_price(dists[*md], &key)), *price);
                let history = ok(c.price_history(dists[*md], &key));
                assert!(history.iter().filter(|p| p.valid_to.is_none()).count() <= 1);
                assert!(history
                    .windows(2)
                    .all(|w| w[0].valid_to.is_some_and(|t| t <= w[1].valid_from)));
            }
        }
    }
}
