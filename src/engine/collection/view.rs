//! The one entry of every read, and the consistent view it runs on.
//!
//! A read request (a search, a universal query, a scroll, a facet...)
//! implements [`ReadRequest`]; [`Collection::read`] has strict mode judge
//! it, then runs it on a [`View`]: the collection's configuration and its
//! in-memory points under one read lock, so a read sees one state from
//! start to end while writers wait for the lock only to publish.
//!
//! The request types and how each runs live in `engine/query/`; this file
//! is the seam, so that the collection knows nothing of them.

use std::sync::Arc;

use parking_lot::RwLockReadGuard;

use super::admission::RateLimits;
use super::points::Points;
use super::Collection;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::config::CollectionConfig;
use crate::engine::error::Result;

/// What one read sees of a collection.
pub struct View<'a> {
    pub name: &'a str,
    /// A copy: a configuration update does not wait for reads to finish.
    pub config: CollectionConfig,
    pub points: RwLockReadGuard<'a, Points>,
}

/// Finds a collection by name: the database's lookup, handed to a read
/// that borrows from other collections so that it need not know the
/// database.
pub type Collections<'a> = dyn Fn(&str) -> Result<Arc<Collection>> + 'a;

/// One kind of read of a collection.
pub trait ReadRequest {
    type Output;

    /// Replaces what the request borrows from other collections (Qdrant's
    /// `lookup_from`) with the vectors themselves; runs before `check`.
    fn resolve(&mut self, _collections: &Collections) -> Result<()> {
        Ok(())
    }

    /// Strict mode's verdict on the request itself (its limits, search
    /// parameters and filters), before anything runs.
    fn check(&self, _strict: &StrictModeConfig, _view: &View) -> Result<()> {
        Ok(())
    }

    /// How many searches it counts as, against the batch size and the
    /// read rate limit.
    fn cost(&self) -> usize {
        1
    }

    /// Runs on `view`. A read with a long computation after it has copied
    /// what it needs (the distance matrix) drops the view first, so that
    /// writers need not wait for it.
    fn run(&self, view: View) -> Result<Self::Output>;
}

impl Collection {
    /// Every read of the collection comes through here. With strict mode
    /// on, the request is judged first (its own limits, then the timeout,
    /// the batch size and the read rate limit), so a refused read costs
    /// nothing; then it runs on one view.
    pub fn read<R: ReadRequest>(&self, req: &R, timeout: Option<u64>) -> Result<R::Output> {
        let view = self.view();
        if let Some(strict) = self.strict_mode() {
            req.check(&strict, &view)?;
            self.admit_read(&strict, timeout, req.cost())?;
        }
        req.run(view)
    }

    /// Several reads of one kind in one request (the `/batch` routes): each
    /// is checked, they are admitted together (their count against the
    /// batch size and the rate limit), then each runs on a view of its own.
    pub fn read_batch<R: ReadRequest>(
        &self,
        reqs: &[R],
        timeout: Option<u64>,
    ) -> Result<Vec<R::Output>> {
        if let Some(strict) = self.strict_mode() {
            let view = self.view();
            for req in reqs {
                req.check(&strict, &view)?;
            }
            drop(view);
            self.admit_read(&strict, timeout, reqs.iter().map(R::cost).sum())?;
        }
        reqs.iter().map(|req| req.run(self.view())).collect()
    }

    /// The timeout, the batch size and the read rate limit.
    fn admit_read(
        &self,
        strict: &StrictModeConfig,
        timeout: Option<u64>,
        cost: usize,
    ) -> Result<()> {
        strict.check_timeout(timeout)?;
        if cost > 1 {
            strict.check_search_batch(cost)?;
        }
        RateLimits::take_read(&mut self.rate_limits.lock(), strict, cost)
    }

    /// The view a read runs on.
    pub(in crate::engine) fn view(&self) -> View<'_> {
        View {
            name: &self.name,
            config: self.config.read().clone(),
            points: self.points.read(),
        }
    }
}
