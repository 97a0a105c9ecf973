//! Service-level objectives (`p99<=16.7ms`, `loss<=0.1%`, `connect_errors=0`) and regression
//! comparison between two reports.

use crate::report::LoadReport;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    P50,
    P90,
    P99,
    P999,
    Max,
    Loss,
    ConnectErrors,
    AuthFailures,
    ConnectP99,
    /// Ping → pong round trip p99 (`--ping-every`).
    RttP99,
    /// `filtered` scenario: messages a filtered client got that its filter refuses.
    FilterMismatches,
    /// `filtered` scenario: most minus fewest admitted messages any client got (0: exact).
    FilterSpread,
}

impl Metric {
    fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "p999" | "p99.9" => Metric::P999,
            "max" => Metric::Max,
            "loss" => Metric::Loss,
            "connect_errors" => Metric::ConnectErrors,
            "auth_failures" => Metric::AuthFailures,
            "connect_p99" => Metric::ConnectP99,
            "rtt_p99" => Metric::RttP99,
            "filter_mismatches" => Metric::FilterMismatches,
            "filter_spread" => Metric::FilterSpread,
            _ => return None,
        })
    }

    fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::P50
                | Metric::P90
                | Metric::P99
                | Metric::P999
                | Metric::Max
                | Metric::ConnectP99
                | Metric::RttP99
        )
    }

    /// The report's value: milliseconds for latencies, percent for loss, a count otherwise.
    pub fn value(self, r: &LoadReport) -> f64 {
        let l = &r.latency;
        match self {
            Metric::P50 => l.p50_ms,
            Metric::P90 => l.p90_ms,
            Metric::P99 => l.p99_ms,
            Metric::P999 => l.p999_ms,
            Metric::Max => l.max_ms,
            Metric::Loss => r.frames.loss_percent,
            Metric::ConnectErrors => r.counters.connect_errors as f64,
            Metric::AuthFailures => r.counters.auth_failures as f64,
            Metric::ConnectP99 => r.connect.p99_ms,
            Metric::RttP99 => r.rtt.p99_ms,
            Metric::FilterMismatches => r.counters.filter_mismatches as f64,
            // No check (not the filtered scenario) cannot meet a filter objective.
            Metric::FilterSpread => r
                .filter
                .as_ref()
                .map_or(f64::INFINITY, |f| (f.admitted_max - f.admitted_min) as f64),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    AtMost,
    Below,
    Equal,
    AtLeast,
}

/// One objective, e.g. `p99<=16.7ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub text: String,
    pub metric: Metric,
    pub comparison: Comparison,
    /// In the metric's unit: ms, percent, or a count.
    pub limit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub slo: String,
    pub actual: f64,
    pub met: bool,
}

impl std::str::FromStr for Slo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let help = "write METRIC OP VALUE, e.g. p99<=16.7ms, loss<=0.1%, connect_errors=0 (metrics: p50 p90 p99 p999 max loss connect_errors auth_failures connect_p99 rtt_p99 filter_mismatches filter_spread; ops: <= < = >=)";
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (pos, op_len, comparison) = ["<=", ">=", "<", "="]
            .iter()
            .find_map(|op| {
                compact.find(op).map(|p| {
                    let c = match *op {
                        "<=" => Comparison::AtMost,
                        ">=" => Comparison::AtLeast,
                        "<" => Comparison::Below,
                        _ => Comparison::Equal,
                    };
                    (p, op.len(), c)
                })
            })
            .ok_or_else(|| format!("{text:?} has no comparison; {help}"))?;
        let metric = Metric::parse(&compact[..pos])
            .ok_or_else(|| format!("unknown metric {:?}; {help}", &compact[..pos]))?;
        let raw = &compact[pos + op_len..];
        let (number, unit) = raw
            .find(|c: char| c.is_ascii_alphabetic() || c == '%')
            .map_or((raw, ""), |i| (&raw[..i], &raw[i..]));
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{raw:?} is not a number; {help}"))?;
        let limit = match (metric.is_latency(), metric == Metric::Loss, unit) {
            (true, _, "ms" | "") => value,
            (true, _, "us" | "µs") => value / 1000.0,
            (true, _, "s") => value * 1000.0,
            (_, true, "%" | "") => value,
            (false, false, "") => value,
            _ => {
                return Err(format!(
                    "unit {unit:?} does not fit {}; {help}",
                    &compact[..pos]
                ))
            }
        };
        Ok(Slo {
            text: text.to_owned(),
            metric,
            comparison,
            limit,
        })
    }
}

impl Slo {
    pub fn check(&self, report: &LoadReport) -> SloResult {
        let actual = self.metric.value(report);
        let met = match self.comparison {
            Comparison::AtMost => actual <= self.limit,
            Comparison::Below => actual < self.limit,
            Comparison::Equal => (actual - self.limit).abs() < 1e-9,
            Comparison::AtLeast => actual >= self.limit,
        };
        SloResult {
            slo: self.text.clone(),
            actual,
            met,
        }
    }
}

/// Metrics compared by `loadgen compare`: lower is better for all of them.
pub const COMPARED: [(Metric, &str); 5] = [
    (Metric::P50, "p50 ms"),
    (Metric::P99, "p99 ms"),
    (Metric::P999, "p99.9 ms"),
    (Metric::Loss, "loss %"),
    (Metric::ConnectP99, "connect p99 ms"),
];

/// Regressions of `new` against `base` beyond `max_regression` (0.1 = 10%). Tiny absolute
/// changes (under 0.05 ms or 0.01 %) are noise and never count.
pub fn regressions(base: &LoadReport, new: &LoadReport, max_regression: f64) -> Vec<String> {
    COMPARED
        .iter()
        .filter_map(|(metric, name)| {
            let (b, n) = (metric.value(base), metric.value(new));
            let noise = if *metric == Metric::Loss { 0.01 } else { 0.05 };
            (n > b * (1.0 + max_regression) && n - b > noise).then(|| {
                format!(
                    "{name}: {b:.3} → {n:.3} (+{:.1}%)",
                    if b > 0.0 {
                        (n / b - 1.0) * 100.0
                    } else {
                        f64::INFINITY
                    }
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let p: Slo = "p99<=16.7ms".parse().expect("valid");
        assert_eq!(
            (p.metric, p.comparison, p.limit),
            (Metric::P99, Comparison::AtMost, 16.7)
        );
        let l: Slo = "loss <= 0.1%".parse().expect("valid");
        assert_eq!((l.metric, l.limit), (Metric::Loss, 0.1));
        let c: Slo = "connect_errors=0".parse().expect("valid");
        assert_eq!(
            (c.metric, c.comparison, c.limit),
            (Metric::ConnectErrors, Comparison::Equal, 0.0)
        );
        assert_eq!("p50<500us".parse::<Slo>().expect("valid").limit, 0.5);
        for bad in [
            "p99",
            "p98<=1ms",
            "p99<=fast",
            "loss<=3ms",
            "connect_errors=0ms",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad}");
        }
    }
}
