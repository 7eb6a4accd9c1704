//! Distributor catalog CSVs, from the drop folder to searchable knowledge
//! bases, in one process and in seconds.
//!
//! Four steps turn a file into products, one module each, in the order a
//! file meets them:
//! * [`parse`]: bytes → rows of text (encoding, delimiter, header mapping);
//! * [`values`]: one cell → a number in base units (Brazilian and English
//!   notation, units such as `0,55 kW`);
//! * [`validate`]: rows → [`validate::Product`]s and per-row errors;
//! * [`report`]: errors → the spreadsheet-safe `<file>.errors.csv`.
//!
//! Then what happens to a file and its products:
//! * [`inbox`]: the drop folder (which files are ready, where they are
//!   archived, where reports go);
//! * [`catalog`]: the SQLite catalog of products, price history, the
//!   ingest log and what the search index has caught up with;
//! * [`ingest`]: one file through all of the above, all or nothing;
//! * [`index`]: brings the `helio-catalog` and `helio-pricing` collections
//!   up to date with the catalog;
//! * [`kb`]: the regulatory, technical and sales documents (and the
//!   tariff tables), cut into chunks;
//! * [`pdf`]: the text of PDF datasheets, as paragraphs, for [`kb`];
//! * [`documents`]: a folder of documents into its collection;
//! * [`points`]: the one shape of a knowledge-base point (id, dense and
//!   BM25 vectors), shared by [`index`] and [`documents`].
//!
//! The pipeline does the work and decides nothing about when: the six
//! knowledge-base assets, their run history and schedules are
//! [`crate::assets`], and the loop that watches the drop folder and runs
//! them is [`crate::watch`]. Both sit above this module; it imports
//! neither.
//!
//! The catalog is the source of truth and the collections are derived
//! from it: a crash between the two leaves products pending, and the next
//! sync (at start-up or after the next file) indexes them.

pub mod catalog;
pub mod documents;
pub mod inbox;
pub mod index;
pub mod ingest;
pub mod kb;
pub mod parse;
pub mod pdf;
pub mod points;
pub mod report;
pub mod validate;
pub mod values;

pub use ingest::{FileReport, Pipeline};
