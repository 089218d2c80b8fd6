//! The status page's charts (docs/operations.md, "Charts"): the last 48 hours, from the hourly
//! rollups (never the rows) and from what this instance keeps in memory (refusals, queue
//! samples).

use crate::domain::Status;
use crate::pages::charts::{draw, Chart, Series, Shape};
use crate::state::AppState;
use crate::store::HourCount;
use chrono::{Duration, DurationRound, Utc};
use std::collections::BTreeMap;

/// The hours charted.
const HOURS: i64 = 48;

fn color(status: Status) -> &'static str {
    match status {
        Status::Queued => "#1565c0",
        Status::Retrying => "#ef6c00",
        Status::Delivered => "#2e7d32",
        Status::DryRun => "#00897b",
        Status::Dead => "#b3261e",
        Status::Invalid => "#757575",
        Status::Spam => "#8e24aa",
    }
}

const PALETTE: [&str; 8] = [
    "#b3261e", "#ef6c00", "#1565c0", "#6a1b9a", "#00897b", "#5d4037", "#c2185b", "#455a64",
];

/// The status page's charts and its counts by status for the last 24 hours, all from the
/// hourly rollups.
pub struct Overview {
    pub charts: Vec<Chart>,
    pub by_status: BTreeMap<&'static str, i64>,
}

/// Every chart, in the page's order, and the last 24 hours' counts by status.
pub async fn overview(state: &AppState) -> anyhow::Result<Overview> {
    let first = Utc::now().duration_trunc(Duration::hours(1))? - Duration::hours(HOURS - 1);
    let hours: Vec<String> = (0..HOURS)
        .map(|h| (first + Duration::hours(h)).format("%Y-%m-%dT%H").to_string())
        .collect();
    let labels: Vec<String> = hours.iter().map(|h| format!("{}:00", &h[11..13])).collect();
    let (statuses, latency) = state.store.hourly(&hours[0]).await?;
    let slot = |hour: &str| hours.iter().position(|h| h == hour);
    let volume = volume(&hours, &statuses, &slot);
    let mut by_status: BTreeMap<&'static str, i64> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let day = &hours[(HOURS - 24) as usize];
    for row in statuses.iter().filter(|r| r.hour >= *day) {
        if let Some(count) = by_status.get_mut(row.key.as_str()) {
            *count += row.count;
        }
    }
    let charts = vec![
        draw(
            "volume",
            "Submissions per hour, by status",
            "submissions per hour",
            &labels,
            &volume,
            Shape::Stacked,
        ),
        draw(
            "latency",
            "Delivery latency per hour (p50 and p95)",
            "seconds from received to delivered",
            &labels,
            &percentiles(&hours, &latency, &slot),
            Shape::Lines,
        ),
        draw(
            "refusals",
            "Refusals per hour, by code (this instance)",
            "refused requests per hour",
            &labels,
            &refusals(state, &hours, &slot),
            Shape::Stacked,
        ),
        draw(
            "queue",
            "Queue depth and oldest due row (this instance's samples)",
            "rows waiting; oldest due, minutes",
            &labels,
            &queue(state, &hours),
            Shape::Lines,
        ),
        draw(
            "spam",
            "Spam share per hour",
            "percent of submissions held as spam",
            &labels,
            &[spam_share(&volume)],
            Shape::Lines,
        ),
    ];
    Ok(Overview { charts, by_status })
}

fn volume(hours: &[String], rows: &[HourCount], slot: &dyn Fn(&str) -> Option<usize>) -> Vec<Series> {
    Status::ALL
        .iter()
        .map(|status| {
            let mut values = vec![None; hours.len()];
            for row in rows.iter().filter(|r| r.key == status.as_str()) {
                if let Some(i) = slot(&row.hour) {
                    values[i] = Some(row.count as f64);
                }
            }
            Series {
                name: status.as_str().to_owned(),
                color: color(*status),
                values,
            }
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect()
}

/// p50 and p95 per hour from the latency buckets: the upper bound of the bucket where the
/// share is reached.
fn percentiles(hours: &[String], rows: &[HourCount], slot: &dyn Fn(&str) -> Option<usize>) -> Vec<Series> {
    let mut buckets: Vec<Vec<(f64, i64)>> = vec![Vec::new(); hours.len()];
    for row in rows {
        if let (Some(i), Ok(le)) = (slot(&row.hour), row.key.parse::<f64>()) {
            buckets[i].push((le, row.count));
        }
    }
    for hour in &mut buckets {
        hour.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let at = |share: f64| -> Vec<Option<f64>> {
        buckets
            .iter()
            .map(|hour| {
                let total: i64 = hour.iter().map(|(_, n)| n).sum();
                let mut seen = 0;
                hour.iter().find_map(|(le, n)| {
                    seen += n;
                    (total > 0 && seen as f64 >= share * total as f64).then_some(le.min(86_400.0))
                })
            })
            .collect()
    };
    vec![
        Series {
            name: "p50".into(),
            color: "#1565c0",
            values: at(0.5),
        },
        Series {
            name: "p95".into(),
            color: "#b3261e",
            values: at(0.95),
        },
    ]
}

fn refusals(state: &AppState, hours: &[String], slot: &dyn Fn(&str) -> Option<usize>) -> Vec<Series> {
    let mut by_code: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (hour, code, count) in state.refusals.per_hour() {
        if let Some(i) = slot(&hour) {
            by_code.entry(code).or_insert_with(|| vec![None; hours.len()])[i] = Some(count as f64);
        }
    }
    by_code
        .into_iter()
        .enumerate()
        .map(|(n, (name, values))| Series {
            name,
            color: PALETTE[n % PALETTE.len()],
            values,
        })
        .collect()
}

/// The largest depth and age sampled in each hour.
fn queue(state: &AppState, hours: &[String]) -> Vec<Series> {
    let samples = state
        .metrics
        .queue_samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut depth = vec![None; hours.len()];
    let mut age = vec![None; hours.len()];
    for sample in &samples {
        if let Some(i) = hours.iter().position(|h| sample.at.starts_with(h.as_str())) {
            let d: &mut Option<f64> = &mut depth[i];
            *d = Some(d.unwrap_or(0.0).max(sample.depth as f64));
            let a: &mut Option<f64> = &mut age[i];
            *a = Some(a.unwrap_or(0.0).max(sample.oldest_due_seconds as f64 / 60.0));
        }
    }
    vec![
        Series {
            name: "depth".into(),
            color: "#1565c0",
            values: depth,
        },
        Series {
            name: "oldest due (min)".into(),
            color: "#ef6c00",
            values: age,
        },
    ]
}

fn spam_share(volume: &[Series]) -> Series {
    let slots = volume.first().map_or(0, |s| s.values.len());
    let values = (0..slots)
        .map(|i| {
            let total: f64 = volume.iter().filter_map(|s| s.values[i]).sum();
            let spam = volume
                .iter()
                .find(|s| s.name == Status::Spam.as_str())
                .and_then(|s| s.values[i]);
            (total > 0.0).then(|| 100.0 * spam.unwrap_or(0.0) / total)
        })
        .collect();
    Series {
        name: "spam %".into(),
        color: color(Status::Spam),
        values,
    }
}
