//! Every read of a collection: the request types and how each runs.
//!
//! A read runs on one consistent [`View`](crate::engine::collection::View)
//! of the collection, reached through the single entry
//! [`Collection::read`](crate::engine::Collection::read), which first has
//! strict mode admit the request.
//!
//! - [`search`]: nearest neighbours of one vector, and the planner that
//!   picks a graph search or an exact scan.
//! - [`stages`]: the universal query, a tree of stages (prefetch,
//!   rescoring, fusion), and the listings it can stand for.
//! - [`explore`]: discovery and context queries, steered by pairs of examples.
//! - [`mmr`]: maximal marginal relevance, nearest results reranked for diversity.
//! - [`formula`]: score boosting, prefetched points rescored by an expression.
//! - [`groups`]: grouped queries, at most so many hits per value of a field.
//! - [`matrix`]: the distance matrix of a random sample of points.
//! - [`scroll`]: points in id order or by a payload field, and random samples.
//! - [`facet`]: value counts of a payload field.
//! - [`points`]: points by id, and counts.
//! - [`lookup`]: `lookup_from`, example ids read in another collection.

pub mod explore;
pub mod facet;
pub mod formula;
pub mod groups;
pub mod lookup;
pub mod matrix;
pub mod mmr;
pub mod points;
pub mod scroll;
pub mod search;
pub mod stages;
