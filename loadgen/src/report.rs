//! `report.json` (schema: `schemas/reports/load-report.json`), `report.md`, `report.html`.

use crate::histo::{self, Percentiles};
use crate::monitor::GeneratorHealth;
use crate::recorder::{Counters, Totals};
use crate::slo::SloResult;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "nhem-load-report/1";

pub const METHOD: &str = "One-way latency = the client's wall-clock arrival time minus the frame's `timestamp` \
(its scheduled time on the server), in microseconds, on the same host's clock. Coordinated omission: a frame that \
never arrived is recorded as if it had arrived with the next frame that did (arrival of that frame minus the lost \
frame's own scheduled time), so loss and stalls raise the percentiles. `latency` includes those; \
`latency_delivered` is delivered frames only. Loss is counted from gaps in the stream's sequence: frame_count, or for a profile without a counter (ECG) the scheduled timestamps one period apart (and, for clients whose \
connection ended early, the frames they missed until the end).";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameSummary {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub loss_percent: f64,
    /// Frames per second the server advertised (target_fps) and each client got on average.
    pub expected_fps: f64,
    pub delivered_fps_per_client: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    pub clients_measured: usize,
    pub client_p99_min_ms: f64,
    pub client_p99_median_ms: f64,
    pub client_p99_max_ms: f64,
    /// max − min of per-client p99: how unequally clients are served.
    pub client_p99_spread_ms: f64,
}

impl Fairness {
    pub fn of(p99s: &[f64]) -> Self {
        if p99s.is_empty() {
            return Fairness::default();
        }
        let mut v = p99s.to_vec();
        v.sort_by(f64::total_cmp);
        Fairness {
            clients_measured: v.len(),
            client_p99_min_ms: v[0],
            client_p99_median_ms: v[v.len() / 2],
            client_p99_max_ms: v[v.len() - 1],
            client_p99_spread_ms: v[v.len() - 1] - v[0],
        }
    }
}

/// The `ingest` scenario's check of the store's numbering: every `insertId` answered, how many
/// were given twice, and how many numbers inside their range no answer carried (other writers
/// to the same server show up here too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestCheck {
    pub answers_with_id: u64,
    pub distinct: u64,
    pub duplicates: u64,
    /// Numbers between the smallest and the largest id that no answer carried.
    pub gaps: u64,
    /// The smallest and the largest id (0 when none), so that shards merge exactly.
    #[serde(default)]
    pub first_id: u64,
    #[serde(default)]
    pub last_id: u64,
}

impl IngestCheck {
    pub fn of(ids: impl Iterator<Item = u64>) -> Self {
        let mut ids: Vec<u64> = ids.collect();
        let answers = ids.len() as u64;
        ids.sort_unstable();
        ids.dedup();
        let distinct = ids.len() as u64;
        let span = match (ids.first(), ids.last()) {
            (Some(lo), Some(hi)) => hi - lo + 1,
            _ => 0,
        };
        IngestCheck {
            answers_with_id: answers,
            distinct,
            duplicates: answers - distinct,
            gaps: span - distinct,
            first_id: ids.first().copied().unwrap_or(0),
            last_id: ids.last().copied().unwrap_or(0),
        }
    }

    /// Shards' checks. Their ids interleave (one server numbers them all), so the gaps are
    /// those of the merged range; ids given twice across shards are not seen (each shard's
    /// duplicates add up).
    fn merge(a: &IngestCheck, b: &IngestCheck) -> IngestCheck {
        let (first_id, last_id) = match (a.distinct, b.distinct) {
            (0, _) => (b.first_id, b.last_id),
            (_, 0) => (a.first_id, a.last_id),
            _ => (a.first_id.min(b.first_id), a.last_id.max(b.last_id)),
        };
        let distinct = a.distinct + b.distinct;
        let span = if distinct == 0 {
            0
        } else {
            last_id - first_id + 1
        };
        IngestCheck {
            answers_with_id: a.answers_with_id + b.answers_with_id,
            distinct,
            duplicates: a.duplicates + b.duplicates,
            gaps: span.saturating_sub(distinct),
            first_id,
            last_id,
        }
    }
}

/// The `filtered` scenario's check that every client got exactly its matching set: over the
/// window in which every client was subscribed, each client's count of admitted subjects (the
/// filtered clients') must equal everyone else's, and no filtered client may get one its filter
/// refuses (`counters.filter_mismatches`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterCheck {
    pub clients_filtered: usize,
    pub clients_unfiltered: usize,
    /// From the last client's subscription to one second before the run's end.
    pub window_s: f64,
    /// Admitted subjects per client in the window: the fewest and the most any client got.
    pub admitted_min: u64,
    pub admitted_max: u64,
    /// `admitted_min == admitted_max > 0` and at least one client of each kind (nothing
    /// admitted in the window proves nothing).
    pub exact: bool,
}

impl FilterCheck {
    /// From the clients' logs; `end_us` is the run's end on the wall clock. Subjects scheduled
    /// within two stream periods of the window's edges are left out: a client may legitimately
    /// be mid-delivery there.
    pub fn of(logs: &[crate::client::FilterLog], end_us: i64, period: std::time::Duration) -> Self {
        let margin = (period.as_micros() as i64 * 2).max(100_000);
        let from = logs.iter().map(|l| l.ready_us).max().unwrap_or(end_us) + margin;
        let to = end_us - 1_000_000 - margin;
        let counts: Vec<u64> = logs
            .iter()
            .map(|l| {
                l.admitted_us
                    .iter()
                    .filter(|t| (from..=to).contains(t))
                    .count() as u64
            })
            .collect();
        let filtered = logs.iter().filter(|l| l.filtered).count();
        let (min, max) = (
            counts.iter().copied().min().unwrap_or(0),
            counts.iter().copied().max().unwrap_or(0),
        );
        FilterCheck {
            clients_filtered: filtered,
            clients_unfiltered: logs.len() - filtered,
            window_s: ((to - from) as f64 / 1e6).max(0.0),
            admitted_min: min,
            admitted_max: max,
            exact: min == max && min > 0 && filtered > 0 && filtered < logs.len(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    pub unix_s: i64,
    pub clients: u64,
    pub frames: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The exact data, for merging shards: base64 V2+DEFLATE HdrHistograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    pub latency: String,
    pub latency_delivered: String,
    pub connect: String,
    pub auth: String,
    #[serde(default)]
    pub jitter: String,
    #[serde(default)]
    pub rtt: String,
    #[serde(default)]
    pub recovery: String,
    /// Unix second → (latency histogram, frames delivered).
    pub intervals: BTreeMap<i64, (String, u64)>,
    /// Unix second → clients connected.
    pub connected: BTreeMap<i64, u64>,
    pub client_p99_ms: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub format: String,
    pub started_at: String,
    pub target: String,
    /// The protocol the clients spoke (reports from before profiles existed are NHEM's).
    #[serde(default = "nhem")]
    pub profile: String,
    pub scenario: String,
    pub clients: usize,
    /// `i/n` when this is one shard of a split run; `merged from N` after `merge`.
    pub shard: Option<String>,
    pub duration_s: f64,
    pub method: String,
    pub frames: FrameSummary,
    pub counters: Counters,
    pub latency: Percentiles,
    pub latency_delivered: Percentiles,
    pub connect: Percentiles,
    /// Connect to session start: NHEM's `auth_response`, or a stream's first message.
    pub auth: Percentiles,
    /// |arrival interval − period| between consecutive stream messages of a connection.
    #[serde(default)]
    pub jitter: Percentiles,
    /// Application ping → pong round trips (`--ping-every`; empty without it).
    #[serde(default)]
    pub rtt: Percentiles,
    /// Profiles whose clients reconnect (RetroBoard): from a drop by the server to the client
    /// holding a session again; its max is a reconnect storm's length. Empty without drops.
    #[serde(default)]
    pub recovery: Percentiles,
    /// The `filtered` scenario's exactness check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterCheck>,
    /// The `ingest` scenario's `insertId` check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestCheck>,
    pub fairness: Fairness,
    pub endings: BTreeMap<String, u64>,
    pub timeline: Vec<Second>,
    pub generators: Vec<GeneratorHealth>,
    pub trustworthy: bool,
    pub slo: Vec<SloResult>,
    pub histograms: Histograms,
}

/// What `build` needs beyond the recorded totals.
pub struct RunInfo {
    pub started_at: String,
    pub target: String,
    pub profile: String,
    pub scenario: String,
    pub clients: usize,
    pub shard: Option<String>,
    pub duration_s: f64,
    pub expected_fps: f64,
    pub tail_lost: u64,
}

fn timeline(
    intervals: &BTreeMap<i64, (Histogram<u64>, u64)>,
    connected: &BTreeMap<i64, u64>,
) -> Vec<Second> {
    let seconds: std::collections::BTreeSet<i64> =
        intervals.keys().chain(connected.keys()).copied().collect();
    seconds
        .into_iter()
        .map(|s| {
            let (p50, p99, frames) = intervals.get(&s).map_or((0.0, 0.0, 0), |(h, f)| {
                let p = Percentiles::of(h);
                (p.p50_ms, p.p99_ms, *f)
            });
            Second {
                unix_s: s,
                clients: connected.get(&s).copied().unwrap_or(0),
                frames,
                p50_ms: p50,
                p99_ms: p99,
            }
        })
        .collect()
}

/// Recomputes every derived figure from exact data (histograms and counters); used both for a
/// fresh run and for merged shards, so the two agree by construction.
#[allow(clippy::too_many_arguments)]
fn assemble(
    info: RunInfo,
    latency: &Histogram<u64>,
    delivered: &Histogram<u64>,
    connect: &Histogram<u64>,
    auth: &Histogram<u64>,
    jitter: &Histogram<u64>,
    rtt: &Histogram<u64>,
    recovery: &Histogram<u64>,
    intervals: BTreeMap<i64, (Histogram<u64>, u64)>,
    connected: BTreeMap<i64, u64>,
    client_p99_ms: Vec<f64>,
    mut counters: Counters,
    endings: BTreeMap<String, u64>,
    generators: Vec<GeneratorHealth>,
) -> LoadReport {
    counters.lost += info.tail_lost;
    // Net loss: a late frame was counted lost first and recovered later, maybe in another
    // flushed batch; both counters stay gross so merged reports subtract exactly once.
    let lost = counters.lost.saturating_sub(counters.recovered);
    let expected = counters.received + lost;
    let active_seconds = info.duration_s.max(1e-9);
    let frames = FrameSummary {
        expected,
        received: counters.received,
        lost,
        duplicated: counters.duplicated,
        out_of_order: counters.out_of_order,
        loss_percent: if expected > 0 {
            lost as f64 * 100.0 / expected as f64
        } else {
            0.0
        },
        expected_fps: info.expected_fps,
        delivered_fps_per_client: if info.clients > 0 {
            counters.received as f64 / info.clients as f64 / active_seconds
        } else {
            0.0
        },
    };
    let encoded_intervals = intervals
        .iter()
        .map(|(s, (h, f))| (*s, (histo::encode(h), *f)))
        .collect();
    LoadReport {
        format: FORMAT.into(),
        started_at: info.started_at,
        target: info.target,
        profile: info.profile,
        scenario: info.scenario,
        clients: info.clients,
        shard: info.shard,
        duration_s: info.duration_s,
        method: METHOD.into(),
        frames,
        counters,
        latency: Percentiles::of(latency),
        latency_delivered: Percentiles::of(delivered),
        connect: Percentiles::of(connect),
        auth: Percentiles::of(auth),
        jitter: Percentiles::of(jitter),
        rtt: Percentiles::of(rtt),
        recovery: Percentiles::of(recovery),
        filter: None,
        ingest: None,
        fairness: Fairness::of(&client_p99_ms),
        endings,
        timeline: timeline(&intervals, &connected),
        trustworthy: generators.iter().all(|g| g.trustworthy),
        generators,
        slo: Vec::new(),
        histograms: Histograms {
            latency: histo::encode(latency),
            latency_delivered: histo::encode(delivered),
            connect: histo::encode(connect),
            auth: histo::encode(auth),
            jitter: histo::encode(jitter),
            rtt: histo::encode(rtt),
            recovery: histo::encode(recovery),
            intervals: encoded_intervals,
            connected,
            client_p99_ms,
        },
    }
}

pub fn build(info: RunInfo, totals: &Totals, generator: GeneratorHealth) -> LoadReport {
    let intervals = totals
        .intervals
        .iter()
        .map(|(s, i)| (*s, (i.latency.clone(), i.frames)))
        .collect();
    assemble(
        info,
        &totals.latency,
        &totals.delivered,
        &totals.connect,
        &totals.auth,
        &totals.jitter,
        &totals.rtt,
        &totals.recovery,
        intervals,
        totals.connected_timeline.clone(),
        totals.client_p99_ms(),
        totals.counters.clone(),
        totals.endings.clone(),
        vec![generator],
    )
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error(transparent)]
    Histogram(#[from] histo::DecodeError),
    #[error("histograms do not add up: {0}")]
    Add(String),
}

/// Combines shard reports exactly: histograms are added, counters summed.
pub fn merge(reports: &[LoadReport]) -> Result<LoadReport, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let add = |into: &mut Histogram<u64>, text: &str| -> Result<(), MergeError> {
        into.add(histo::decode(text)?)
            .map_err(|e| MergeError::Add(format!("{e:?}")))
    };
    let (mut latency, mut delivered, mut connect, mut auth, mut jitter, mut rtt) = (
        histo::new_us(),
        histo::new_us(),
        histo::new_us(),
        histo::new_us(),
        histo::new_us(),
        histo::new_us(),
    );
    let mut recovery = histo::new_us();
    let mut intervals: BTreeMap<i64, (Histogram<u64>, u64)> = BTreeMap::new();
    let mut connected: BTreeMap<i64, u64> = BTreeMap::new();
    let mut client_p99_ms = Vec::new();
    let mut counters = Counters::default();
    let mut endings: BTreeMap<String, u64> = BTreeMap::new();
    let mut generators = Vec::new();
    for r in reports {
        let h = &r.histograms;
        add(&mut latency, &h.latency)?;
        add(&mut delivered, &h.latency_delivered)?;
        add(&mut connect, &h.connect)?;
        add(&mut auth, &h.auth)?;
        if !h.jitter.is_empty() {
            add(&mut jitter, &h.jitter)?;
        }
        if !h.rtt.is_empty() {
            add(&mut rtt, &h.rtt)?;
        }
        if !h.recovery.is_empty() {
            add(&mut recovery, &h.recovery)?;
        }
        for (s, (text, frames)) in &h.intervals {
            let entry = intervals.entry(*s).or_insert_with(|| (histo::new_us(), 0));
            add(&mut entry.0, text)?;
            entry.1 += frames;
        }
        for (s, n) in &h.connected {
            *connected.entry(*s).or_default() += n;
        }
        client_p99_ms.extend(&h.client_p99_ms);
        counters += &r.counters;
        for (k, v) in &r.endings {
            *endings.entry(k.clone()).or_default() += v;
        }
        generators.extend(r.generators.clone());
    }
    let info = RunInfo {
        started_at: reports
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        target: first.target.clone(),
        profile: first.profile.clone(),
        scenario: first.scenario.clone(),
        clients: reports.iter().map(|r| r.clients).sum(),
        shard: Some(format!("merged from {}", reports.len())),
        duration_s: reports.iter().map(|r| r.duration_s).fold(0.0, f64::max),
        expected_fps: first.frames.expected_fps,
        tail_lost: 0,
    };
    let mut merged = assemble(
        info,
        &latency,
        &delivered,
        &connect,
        &auth,
        &jitter,
        &rtt,
        &recovery,
        intervals,
        connected,
        client_p99_ms,
        counters,
        endings,
        generators,
    );
    merged.filter = merge_filters(reports.iter().filter_map(|r| r.filter.as_ref()));
    merged.ingest = reports
        .iter()
        .filter_map(|r| r.ingest.clone())
        .reduce(|a, b| IngestCheck::merge(&a, &b));
    Ok(merged)
}

/// Shards' filter checks combined: the narrowest window, the fewest and most per client. Each
/// shard's window starts at its own last subscription, so a merged check is exact only when
/// every shard's was.
fn merge_filters<'a>(checks: impl Iterator<Item = &'a FilterCheck>) -> Option<FilterCheck> {
    checks.fold(None, |acc: Option<FilterCheck>, c| {
        Some(match acc {
            None => c.clone(),
            Some(a) => {
                let (min, max) = (
                    a.admitted_min.min(c.admitted_min),
                    a.admitted_max.max(c.admitted_max),
                );
                FilterCheck {
                    clients_filtered: a.clients_filtered + c.clients_filtered,
                    clients_unfiltered: a.clients_unfiltered + c.clients_unfiltered,
                    window_s: a.window_s.min(c.window_s),
                    admitted_min: min,
                    admitted_max: max,
                    exact: a.exact && c.exact && min == max,
                }
            }
        })
    })
}

fn nhem() -> String {
    "nhem".into()
}

pub fn to_markdown(r: &LoadReport) -> String {
    let mut out = String::new();
    let verdict = if r.slo.iter().all(|s| s.met) {
        "all SLOs met"
    } else {
        "SLO BREACHED"
    };
    let _ = writeln!(
        out,
        "# {} load report: {} clients, {} ({verdict})\n",
        r.profile.to_uppercase(),
        r.clients,
        r.scenario
    );
    let _ = writeln!(
        out,
        "Target `{}` · started {} · {:.1} s{}\n",
        r.target,
        r.started_at,
        r.duration_s,
        r.shard
            .as_ref()
            .map(|s| format!(" · shard {s}"))
            .unwrap_or_default()
    );
    if !r.trustworthy {
        let _ = writeln!(
            out,
            "> ⚠️ **The generator was saturated; these figures are not trustworthy.**"
        );
        for g in &r.generators {
            for w in &g.warnings {
                let _ = writeln!(out, "> - {w}");
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "| latency | p50 | p90 | p99 | p99.9 | max |\n| --- | --- | --- | --- | --- | --- |"
    );
    for (name, p) in [
        ("one-way (with loss)", &r.latency),
        ("delivered only", &r.latency_delivered),
        ("connect", &r.connect),
        (
            "connect → session start (auth_response / first frame)",
            &r.auth,
        ),
        ("interval jitter (abs. of Δ − period)", &r.jitter),
        ("ping → pong round trip", &r.rtt),
        ("dropped → session again (reconnect)", &r.recovery),
    ] {
        if p.count == 0 && (name.starts_with("ping") || name.starts_with("dropped")) {
            continue;
        }
        let _ = writeln!(
            out,
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
        );
    }
    let f = &r.frames;
    let _ = writeln!(
        out,
        "\n**Frames:** {} received of {} expected, {} lost ({:.3}%), {} duplicated, {} out of order; {:.2} frames/s per client (server advertised {:.0}).\n",
        f.received, f.expected, f.lost, f.loss_percent, f.duplicated, f.out_of_order, f.delivered_fps_per_client, f.expected_fps
    );
    let fa = &r.fairness;
    let _ = writeln!(out, "**Fairness:** per-client p99 from {:.2} to {:.2} ms (median {:.2}, spread {:.2} ms over {} clients).\n", fa.client_p99_min_ms, fa.client_p99_max_ms, fa.client_p99_median_ms, fa.client_p99_spread_ms, fa.clients_measured);
    if let Some(check) = &r.filter {
        let _ = writeln!(
            out,
            "**Filters:** {} clients filtered, {} not; over the {:.1} s window every client got {} to {} admitted messages ({}); {} mismatches (messages a filter refuses).\n",
            check.clients_filtered,
            check.clients_unfiltered,
            check.window_s,
            check.admitted_min,
            check.admitted_max,
            if check.exact { "exact" } else { "NOT exact" },
            r.counters.filter_mismatches
        );
    }
    let c = &r.counters;
    let _ = writeln!(out, "**Connections:** {} connects, {} connect errors, {} auth failures, {} reconnects, {} HTTP errors.", c.connects, c.connect_errors, c.auth_failures, c.reconnects, c.http_errors);
    if !r.endings.is_empty() {
        let endings: Vec<String> = r.endings.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "Endings: {}.", endings.join(", "));
    }
    if !r.slo.is_empty() {
        let _ = writeln!(out, "\n| SLO | actual | |\n| --- | --- | --- |");
        for s in &r.slo {
            let _ = writeln!(
                out,
                "| `{}` | {:.3} | {} |",
                s.slo,
                s.actual,
                if s.met { "✅ met" } else { "❌ breached" }
            );
        }
    }
    let _ = writeln!(out, "\n**Generator:**");
    for g in &r.generators {
        let _ = writeln!(
            out,
            "- {:.0}% of {} cores, {:.1} MiB RSS ({:.1} KiB per client), timer lag p99 {:.2} ms, {:.2} µs CPU per message ({:.4} cores per 1,000 msg/s){}",
            g.cpu_utilization * 100.0,
            g.cores,
            g.rss_mib,
            g.rss_kib_per_client,
            g.loop_lag_p99_ms,
            g.cpu_us_per_message,
            g.cores_per_1000_msgs_per_s,
            g.cpu_us_per_message_steady
                .map(|us| format!(", {us:.2} once every client was up"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\n_Method: {}_", r.method);
    out
}

pub use crate::html::to_html;

/// A histogram of µs as HdrHistogram's percentile-distribution text (values in ms): the
/// `TotalCount` column is cumulative and the footer carries mean, deviation, max, total and
/// bucket geometry, so HdrHistogram's own plotters read it.
pub fn percentile_distribution(h: &hdrhistogram::Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in h.iter_quantiles(1) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {:10} {:>14}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            total,
            inverse
        );
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len(),
        h.buckets(),
        sub_buckets
    );
    out
}

/// JUnit XML of the SLO results, one `testcase` per objective (failed when breached), so a
/// CI test tab lists the load run's gates; a run without SLOs has an empty suite.
pub fn to_junit(r: &LoadReport) -> String {
    use quick_xml::escape::escape;
    let name = format!("loadgen.{}.{}", r.profile, r.scenario);
    let failures = r.slo.iter().filter(|s| !s.met).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{name}\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" timestamp=\"{}\">",
        r.slo.len(),
        r.slo.len(),
        escape(&r.started_at),
        name = escape(&name),
    );
    for slo in &r.slo {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">",
            escape(&name),
            escape(&slo.slo)
        );
        if !slo.met {
            let _ = write!(
                out,
                "<failure message=\"SLO breached: actual {:.3}\">{} was {:.3}</failure>",
                slo.actual,
                escape(&slo.slo),
                slo.actual
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Writes report.json, report.md, report.html, slo.junit.xml and latency.hgrm (a percentile
/// distribution in HdrHistogram's text format) into `dir`.
pub fn write_all(r: &LoadReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let hgrm = histo::decode(&r.histograms.latency)
        .map(|h| percentile_distribution(&h))
        .unwrap_or_default();
    let files = [
        (
            "report.json",
            serde_json::to_string_pretty(r).expect("reports serialize"),
        ),
        ("report.md", to_markdown(r)),
        ("report.html", to_html(r)),
        ("slo.junit.xml", to_junit(r)),
        ("latency.hgrm", hgrm),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

pub fn read(path: &Path) -> Result<LoadReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let report: LoadReport = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a load report: {e}", path.display()))?;
    if report.format != FORMAT {
        return Err(format!(
            "{} has format {:?}, expected {FORMAT}",
            path.display(),
            report.format
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Counters, Recorder};

    fn info() -> RunInfo {
        RunInfo {
            started_at: "2026-01-01T00:00:00Z".into(),
            target: "ws://test".into(),
            profile: "nhem".into(),
            scenario: "broadcast".into(),
            clients: 1,
            shard: None,
            duration_s: 1.0,
            expected_fps: 60.0,
            tail_lost: 0,
        }
    }

    #[test]
    fn hgrm_counts_are_cumulative_and_the_footer_totals_them() {
        let mut h = histo::new_us();
        for us in [100, 200, 200, 300, 5_000, 5_000, 5_000, 90_000] {
            histo::record(&mut h, us);
        }
        let text = percentile_distribution(&h);
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| {
                !l.is_empty() && !l.starts_with('#') && !l.trim_start().starts_with("Value")
            })
            .map(|l| {
                l.split_whitespace()
                    .nth(2)
                    .expect("TotalCount")
                    .parse()
                    .expect("a count")
            })
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{text}");
        assert_eq!(counts.last(), Some(&8), "{text}");
        assert!(text.contains("Total count    =            8]"), "{text}");
        assert!(text.contains("SubBuckets     =         2048]"), "{text}");
    }

    /// Frame 2 is counted lost when 3 arrives, the batch is flushed, then 2 arrives late: it
    /// is neither lost nor counted twice, in the report and after a merge.
    #[test]
    fn a_late_frame_after_a_flush_is_not_lost() {
        let recorder = Recorder::default();
        let mut first = Counters {
            received: 2,
            lost: 1,
            ..Counters::default()
        };
        recorder.flush(&mut Vec::new(), &mut Vec::new(), &mut first);
        let mut late = Counters {
            received: 1,
            out_of_order: 1,
            recovered: 1,
            ..Counters::default()
        };
        recorder.flush(&mut Vec::new(), &mut Vec::new(), &mut late);
        let report = build(info(), &recorder.lock(), GeneratorHealth::default());
        assert_eq!(
            (
                report.frames.received,
                report.frames.lost,
                report.frames.expected
            ),
            (3, 0, 3)
        );
        let merged = merge(&[report.clone(), report]).expect("merges");
        assert_eq!((merged.frames.lost, merged.frames.expected), (0, 6));
    }

    /// Each SLO is a testcase; a breached one carries a failure; the XML is well-formed with
    /// the objectives' `<` and `<=` escaped.
    #[test]
    fn slo_results_become_junit_testcases() {
        use quick_xml::events::Event;
        let recorder = Recorder::default();
        let mut report = build(info(), &recorder.lock(), GeneratorHealth::default());
        report.slo = vec![
            crate::slo::SloResult {
                slo: "p99<=16.7ms".into(),
                actual: 3.2,
                met: true,
            },
            crate::slo::SloResult {
                slo: "loss<0.1%".into(),
                actual: 2.5,
                met: false,
            },
        ];
        let xml = to_junit(&report);
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut cases, mut failures, mut names) = (0, 0, Vec::new());
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                    cases += 1;
                    let name = e
                        .try_get_attribute("name")
                        .expect("attribute")
                        .expect("a name")
                        .unescape_value()
                        .expect("unescapes")
                        .into_owned();
                    names.push(name);
                }
                Event::Start(e) if e.name().as_ref() == b"failure" => failures += 1,
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!((cases, failures), (2, 1), "{xml}");
        assert_eq!(names, ["p99<=16.7ms", "loss<0.1%"]);
        assert!(xml.contains("failures=\"1\""), "{xml}");
    }
}
