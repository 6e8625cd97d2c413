//! When and for whom bulk events happen: tenant k of n gets a share of 1/k of the events
//! (Zipf), in bursts and in business hours, over the year before `now`.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::Rng;

use crate::bulk::BulkOptions;
use crate::history::{Generator, TenantProfile};

/// Every event's (time in µs, tenant index), in time order. Tenant k (0-based) gets a share of
/// 1/(k+1), apportioned so the counts add up to exactly `events`.
pub(crate) fn schedule(profiles: &[TenantProfile], options: &BulkOptions) -> Vec<(i64, u32)> {
    let counts = zipf_counts(profiles.len(), options.events);
    let mut generator = Generator::new(options.seed, "bulk-schedule");
    let rng = generator.rng();
    let end = options.now;
    let start = end - Duration::days(365);
    let span = (end - start).num_seconds();
    let mut out = Vec::with_capacity(options.events as usize);
    for (tenant, &count) in counts.iter().enumerate() {
        let bursts: Vec<i64> = (0..(count / 2000).clamp(1, 50))
            .map(|_| rng.random_range(0..span))
            .collect();
        for _ in 0..count {
            let offset = if rng.random_bool(0.25) {
                (bursts[rng.random_range(0..bursts.len())] + rng.random_range(0..3600))
                    .min(span - 1)
            } else {
                business_offset(rng, start, span)
            };
            let micros = (start + Duration::seconds(offset)).timestamp_micros()
                + rng.random_range(0..1_000_000);
            out.push((micros, tenant as u32));
        }
    }
    out.sort_unstable();
    out
}

/// A moment in the window, three times likelier on a working day than at a weekend and mostly
/// in office hours.
fn business_offset(rng: &mut impl Rng, start: DateTime<Utc>, span: i64) -> i64 {
    loop {
        let offset = rng.random_range(0..span);
        let at = start + Duration::seconds(offset);
        let weekend = matches!(at.weekday(), Weekday::Sat | Weekday::Sun);
        let office = (8..19).contains(&at.hour());
        let keep = match (weekend, office) {
            (false, true) => 1.0,
            (false, false) => 0.35,
            (true, _) => 0.2,
        };
        if rng.random_bool(keep) {
            return offset;
        }
    }
}

/// Splits `total` over `n` ranks in proportion to 1/k, exactly (largest remainder).
pub fn zipf_counts(n: usize, total: u64) -> Vec<u64> {
    let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let exact: Vec<f64> = (1..=n)
        .map(|k| total as f64 / (k as f64 * harmonic))
        .collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut rest = total - counts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order.into_iter().cycle() {
        if rest == 0 {
            break;
        }
        counts[i] += 1;
        rest -= 1;
    }
    counts
}
