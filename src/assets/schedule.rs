//! When the knowledge-base assets run on their own: a cron expression per
//! asset, read in an explicit time zone (the seed's: every KB daily at
//! 02:00, America/Sao_Paulo).
//!
//! The rule is one comparison, which also covers downtime: an asset is due
//! when the latest scheduled instant at or before now is later than the
//! start of its last run. A server that was down at 02:00 therefore runs
//! the asset once when it comes back, not once per missed day. `croner`
//! evaluates the expression in the zone, so a 02:00 that a daylight-saving
//! change skips fires at the first instant after it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// The seed's schedule for every knowledge base.
pub const DEFAULT_CRON: &str = "0 2 * * *";
/// The seed's schedule for the tariffs (ANEEL publishes overnight).
pub const TARIFFS_CRON: &str = "0 6 * * *";

/// An asset's schedule when the configuration names none.
pub fn default_cron(asset: &str) -> &'static str {
    if asset == "tariffs" {
        TARIFFS_CRON
    } else {
        DEFAULT_CRON
    }
}
pub const DEFAULT_TZ: &str = "America/Sao_Paulo";

/// A schedule the configuration gives that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule of {asset}: `{expr}` is not a cron expression ({reason})")]
    Cron {
        asset: String,
        expr: String,
        reason: String,
    },
    #[error("schedule time zone `{0}` is not an IANA zone name")]
    TimeZone(String),
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub asset: String,
    pub expr: String,
    pub tz: Tz,
    cron: Cron,
}

impl Schedule {
    pub fn parse(asset: &str, expr: &str, tz: &str) -> Result<Schedule, ScheduleError> {
        let cron: Cron = expr.parse().map_err(|e| ScheduleError::Cron {
            asset: asset.to_string(),
            expr: expr.to_string(),
            reason: format!("{e}"),
        })?;
        let tz: Tz = tz
            .parse()
            .map_err(|_| ScheduleError::TimeZone(tz.to_string()))?;
        Ok(Schedule {
            asset: asset.to_string(),
            expr: expr.to_string(),
            tz,
            cron,
        })
    }

    /// The latest scheduled instant at or before `now`.
    pub fn previous(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&now.with_timezone(&self.tz), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first scheduled instant after `now`.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&now.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether the asset should run at `now`, given when its last run
    /// started (`None`: it never ran).
    pub fn due(&self, last_start: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match self.previous(now) {
            None => false,
            Some(instant) => last_start.is_none_or(|last| last < instant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn daily_at_two_in_sao_paulo() {
        let s = Schedule::parse("catalog_kb", DEFAULT_CRON, DEFAULT_TZ).unwrap();
        // 02:00 in São Paulo (UTC−3, no DST since 2019) is 05:00 UTC.
        assert_eq!(
            s.next(utc(2026, 11, 26, 4, 0)),
            Some(utc(2026, 11, 26, 5, 0))
        );
        assert_eq!(
            s.next(utc(2026, 11, 26, 5, 0)),
            Some(utc(2026, 11, 27, 5, 0))
        );
        assert_eq!(
            s.previous(utc(2026, 11, 26, 4, 59)),
            Some(utc(2026, 11, 25, 5, 0))
        );
    }

    #[test]
    fn a_missed_run_is_due_once() {
        let s = Schedule::parse("sales_kb", DEFAULT_CRON, DEFAULT_TZ).unwrap();
        let last = utc(2026, 11, 20, 5, 0); // ran on the 20th, then the server was down
        let back = utc(2026, 11, 26, 12, 0);
        assert!(s.due(Some(last), back));
        // Once it has run (started at `back`), it waits for the next 02:00.
        assert!(!s.due(Some(back), utc(2026, 11, 26, 23, 0)));
        assert!(s.due(Some(back), utc(2026, 11, 27, 5, 0)));
        // Never ran: due.
        assert!(s.due(None, back));
    }

    #[test]
    fn daylight_saving_gap_and_overlap() {
        // New York skips 02:00–03:00 on 2026-03-08 and repeats 01:00–02:00
        // on 2026-11-01.
        let s = Schedule::parse("x", "0 2 * * *", "America/New_York").unwrap();
        // The skipped 02:00 fires at 03:00 EDT (07:00 UTC), once.
        assert_eq!(s.next(utc(2026, 3, 8, 0, 0)), Some(utc(2026, 3, 8, 7, 0)));
        let one_thirty = Schedule::parse("y", "30 1 * * *", "America/New_York").unwrap();
        let first = one_thirty.next(utc(2026, 11, 1, 4, 0)).unwrap();
        let second = one_thirty.next(first).unwrap();
        // The repeated 01:30 runs once that day; the next run is a day later.
        assert!(
            second - first >= chrono::Duration::hours(23),
            "{first} {second}"
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_clear_errors() {
        let e = Schedule::parse("catalog_kb", "every day", DEFAULT_TZ)
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog_kb") && e.contains("every day"), "{e}");
        let e = Schedule::parse("catalog_kb", DEFAULT_CRON, "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }
}
