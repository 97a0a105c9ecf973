//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network) that a
//! person opens first: a verdict banner (SLOs met or breached, and whether the generator's own
//! figures can be trusted), rendered tables, and charts with round axis ticks and units.

use crate::histo::{self, Percentiles};
use crate::report::{LoadReport, Second};
use std::fmt::Write;

/// Text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for about `target` intervals over `0..=max`: 1, 2 or 5 × 10ⁿ.
pub fn nice_step(max: f64, target: usize) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// A tick label with no more decimals than the step needs (`0.5`, `10`, `2.25` never `2.250`).
pub fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{value:.decimals$}")
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:880px;margin:2em auto;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}\
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
.banner{padding:.8em 1em;border-radius:6px;font-weight:600;margin:.4em 0}\
.met{background:#e3f4e6;color:#1d6b2c}.breached{background:#fbe4e4;color:#9b1c1c}.neutral{background:#eef0f3;color:#444}\
.warn{background:#fff4dc;color:#7a5200}td.met,td.breached{font-weight:600}\
.meta{color:#666;font-size:.9em}svg{max-width:100%;height:auto}";

/// The verdict on the SLOs: (css class, text).
fn slo_verdict(r: &LoadReport) -> (&'static str, String) {
    let breached: Vec<&str> = r
        .slo
        .iter()
        .filter(|s| !s.met)
        .map(|s| s.slo.as_str())
        .collect();
    match (r.slo.len(), breached.len()) {
        (0, _) => (
            "neutral",
            "No SLOs were set (give --slo to gate on them)".into(),
        ),
        (n, 0) => ("met", format!("SLOs met: {n} of {n}")),
        (n, b) => (
            "breached",
            format!("SLOs breached: {b} of {n} ({})", breached.join(", ")),
        ),
    }
}

fn trust_verdict(r: &LoadReport) -> (&'static str, String) {
    if r.trustworthy {
        return (
            "met",
            "Generator trustworthy: its own CPU and timer lag stayed within bounds".into(),
        );
    }
    let warnings: Vec<&str> = r
        .generators
        .iter()
        .flat_map(|g| g.warnings.iter().map(String::as_str))
        .collect();
    (
        "warn",
        format!("Generator NOT trustworthy: {}", warnings.join("; ")),
    )
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for (i, c) in cells.iter().enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        let _ = write!(out, "<{tag}>{}</{tag}>", escape(c));
    }
    out.push_str("</tr>");
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn latency_table(r: &LoadReport) -> String {
    let mut out = String::from("<table><tr><th>ms</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
    let rows: [(&str, &Percentiles); 7] = [
        ("latency (with loss)", &r.latency),
        ("latency (delivered)", &r.latency_delivered),
        ("connect", &r.connect),
        ("session start", &r.auth),
        ("interval jitter", &r.jitter),
        ("round trip (rtt)", &r.rtt),
        ("dropped → session again", &r.recovery),
    ];
    for (name, p) in rows.into_iter().filter(|(_, p)| p.count > 0) {
        row(
            &mut out,
            &[
                name.into(),
                p.count.to_string(),
                ms(p.p50_ms),
                ms(p.p90_ms),
                ms(p.p99_ms),
                ms(p.p999_ms),
                ms(p.max_ms),
            ],
        );
    }
    out.push_str("</table>");
    out
}

fn pairs_table(pairs: &[(&str, String)]) -> String {
    let mut out = String::from("<table>");
    for (name, value) in pairs {
        row(&mut out, &[(*name).into(), value.clone()]);
    }
    out.push_str("</table>");
    out
}

fn slo_table(r: &LoadReport) -> String {
    if r.slo.is_empty() {
        return "<p class=\"meta\">No SLOs were set.</p>".into();
    }
    let mut out = String::from("<table><tr><th>objective</th><th>actual</th><th>result</th></tr>");
    for s in &r.slo {
        let (class, word) = if s.met {
            ("met", "met")
        } else {
            ("breached", "breached")
        };
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td><td class=\"{class}\">{word}</td></tr>",
            escape(&s.slo),
            ms(s.actual)
        );
    }
    out.push_str("</table>");
    out
}

/// A named, coloured line of (x, y) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// One SVG line chart: y from 0 with round ticks and its unit, x ticks given.
fn svg_chart(
    title: &str,
    x_label: &str,
    y_unit: &str,
    series: &[Series],
    x_ticks: &[(f64, String)],
) -> String {
    let (w, h, left, bottom, top, right) = (760.0, 300.0, 64.0, 42.0, 30.0, 20.0);
    let points: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
    if points.is_empty() {
        return format!("<h3>{}</h3><p class=\"meta\">no data</p>", escape(title));
    }
    let (x0, x1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let top_value = points.iter().fold(0.0f64, |m, p| m.max(p.1));
    let step = nice_step(top_value, 5);
    let y1 = ((top_value / step).ceil() * step).max(step);
    let sx = |x: f64| left + (x - x0) / (x1 - x0).max(1e-9) * (w - left - right);
    let sy = |y: f64| h - bottom - y / y1 * (h - bottom - top);
    let mut svg = format!("<h3>{}</h3><svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"{}\">", escape(title), escape(title));
    let _ = write!(svg, "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#888\"/>", h - bottom, w - right, h - bottom, h - bottom);
    let mut y = 0.0;
    while y <= y1 + step / 2.0 {
        let _ = write!(svg, "<text class=\"ytick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>", left - 4.0, sy(y) + 4.0, tick_label(y, step), w - right, sy(y), sy(y));
        y += step;
    }
    for (x, label) in x_ticks {
        let _ = write!(
            svg,
            "<text class=\"xtick\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            sx(*x),
            h - bottom + 14.0,
            escape(label)
        );
    }
    let _ = write!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">{}</text>", (left + w - right) / 2.0, h - 6.0, escape(x_label), h / 2.0, h / 2.0, escape(y_unit));
    for (i, (name, colour, pts)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>",
            left + 10.0 + 120.0 * i as f64,
            top - 10.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Round x ticks over `0..=span` seconds.
fn time_ticks(span: f64) -> Vec<(f64, String)> {
    let step = nice_step(span, 8);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= span + step / 2.0 {
        ticks.push((t, format!("{} s", tick_label(t, step))));
        t += step;
    }
    ticks
}

pub fn to_html(r: &LoadReport) -> String {
    let percentiles = [
        0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    ];
    // x = -log10(1 - q): 50% → 0.3, 99% → 2, 99.9% → 3.
    let nines = |q: f64| -(1.0 - q).max(1e-6).log10();
    let dist = |text: &str| -> Vec<(f64, f64)> {
        histo::decode(text).map_or(Vec::new(), |h| {
            if h.is_empty() {
                Vec::new()
            } else {
                percentiles
                    .iter()
                    .map(|q| (nines(*q), h.value_at_quantile(*q) as f64 / 1000.0))
                    .collect()
            }
        })
    };
    let quantile_ticks: Vec<(f64, String)> = [0.5, 0.9, 0.99, 0.999, 0.9999]
        .iter()
        .map(|q| {
            (
                nines(*q),
                format!("p{}", (q * 100.0 * 100.0).round() / 100.0),
            )
        })
        .collect();
    let t0 = r.timeline.first().map_or(0, |s| s.unix_s);
    let span = r.timeline.last().map_or(0, |s| s.unix_s - t0) as f64;
    let over_time = |f: &dyn Fn(&Second) -> f64| -> Vec<(f64, f64)> {
        r.timeline
            .iter()
            .map(|s| ((s.unix_s - t0) as f64, f(s)))
            .collect()
    };
    let ticks = time_ticks(span);
    let (slo_class, slo_text) = slo_verdict(r);
    let (trust_class, trust_text) = trust_verdict(r);
    let f = &r.frames;
    let c = &r.counters;
    let mut checks: Vec<(&str, String)> = Vec::new();
    if let Some(filter) = &r.filter {
        checks.push((
            "filter check",
            format!(
                "{}: {}–{} admitted per client over {:.1} s, {} mismatches",
                if filter.exact { "exact" } else { "NOT exact" },
                filter.admitted_min,
                filter.admitted_max,
                filter.window_s,
                c.filter_mismatches
            ),
        ));
    }
    if let Some(ingest) = &r.ingest {
        checks.push((
            "insertId check",
            format!(
                "{} answers with an id, {} distinct, {} duplicates, {} gaps",
                ingest.answers_with_id, ingest.distinct, ingest.duplicates, ingest.gaps
            ),
        ));
    }
    let mut body = String::new();
    let title = format!("{} load report: {}", r.profile, r.scenario);
    let _ = write!(
        body,
        "<h1>{}</h1><p class=\"meta\">{} clients against {} for {:.0} s, started {}{}</p>",
        escape(&title),
        r.clients,
        escape(&r.target),
        r.duration_s,
        escape(&r.started_at),
        r.shard
            .as_ref()
            .map(|s| format!(", shard {}", escape(s)))
            .unwrap_or_default()
    );
    let _ = write!(body, "<div id=\"verdict\" class=\"banner {slo_class}\">{}</div><div id=\"trust\" class=\"banner {trust_class}\">{}</div>", escape(&slo_text), escape(&trust_text));
    let _ = write!(body, "<h2>Latency</h2>{}", latency_table(r));
    let _ = write!(
        body,
        "<h2>Frames</h2>{}",
        pairs_table(&[
            ("expected", f.expected.to_string()),
            ("received", f.received.to_string()),
            ("lost", format!("{} ({:.3}%)", f.lost, f.loss_percent)),
            ("duplicated", f.duplicated.to_string()),
            ("out of order", f.out_of_order.to_string()),
            ("expected per second", format!("{:.1}", f.expected_fps)),
            (
                "delivered per second per client",
                format!("{:.1}", f.delivered_fps_per_client)
            ),
        ])
    );
    let mut connections = vec![
        ("connects", c.connects.to_string()),
        ("connect errors", c.connect_errors.to_string()),
        ("auth failures", c.auth_failures.to_string()),
        ("reconnects", c.reconnects.to_string()),
        ("timeouts", c.timeouts.to_string()),
    ];
    let endings: Vec<String> = r
        .endings
        .iter()
        .map(|(why, n)| format!("{why}: {n}"))
        .collect();
    connections.push((
        "endings",
        if endings.is_empty() {
            "none".into()
        } else {
            endings.join(", ")
        },
    ));
    connections.extend(checks);
    let _ = write!(
        body,
        "<h2>Connections and checks</h2>{}",
        pairs_table(&connections)
    );
    let _ = write!(body, "<h2>SLOs</h2>{}", slo_table(r));
    let mut generator = String::from("<table><tr><th>generator</th><th>CPU</th><th>RSS MiB</th><th>KiB per client</th><th>timer lag p99 ms</th><th>µs CPU per message</th><th>trustworthy</th></tr>");
    for (i, g) in r.generators.iter().enumerate() {
        let class = if g.trustworthy { "met" } else { "breached" };
        let _ = write!(generator, "<tr><th>{}</th><td>{:.0}% of {} cores</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td class=\"{class}\">{}</td></tr>", i + 1, g.cpu_utilization * 100.0, g.cores, g.rss_mib, g.rss_kib_per_client, g.loop_lag_p99_ms, g.cpu_us_per_message, if g.trustworthy { "yes" } else { "no" });
    }
    generator.push_str("</table>");
    let _ = write!(body, "<h2>Generator</h2>{generator}");
    body.push_str("<h2>Charts</h2>");
    body.push_str(&svg_chart(
        "Latency by percentile",
        "percentile",
        "latency (ms)",
        &[
            ("with loss", "#c0392b", dist(&r.histograms.latency)),
            (
                "delivered",
                "#2980b9",
                dist(&r.histograms.latency_delivered),
            ),
        ],
        &quantile_ticks,
    ));
    body.push_str(&svg_chart(
        "p50 and p99 over time",
        "time since start",
        "latency (ms)",
        &[
            ("p50", "#2980b9", over_time(&|s| s.p50_ms)),
            ("p99", "#c0392b", over_time(&|s| s.p99_ms)),
        ],
        &ticks,
    ));
    body.push_str(&svg_chart(
        "Clients connected",
        "time since start",
        "clients",
        &[("clients", "#27ae60", over_time(&|s| s.clients as f64))],
        &ticks,
    ));
    body.push_str(&svg_chart(
        "Messages per second (all clients)",
        "time since start",
        "messages per second",
        &[("messages/s", "#8e44ad", over_time(&|s| s.frames as f64))],
        &ticks,
    ));
    let _ = write!(
        body,
        "<h2>Method</h2><p class=\"meta\">{}</p>",
        escape(&r.method)
    );
    format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{CSS}</style></head><body>{body}</body></html>\n", escape(&title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_labels_short() {
        assert_eq!(nice_step(32.45, 5), 10.0);
        assert_eq!(nice_step(8.11, 5), 2.0);
        assert_eq!(nice_step(0.37, 5), 0.1);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(tick_label(20.0, 10.0), "20");
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(tick_label(2.5, 0.5), "2.5");
        let ticks = time_ticks(19.0);
        assert_eq!(ticks.first().map(|t| t.1.as_str()), Some("0 s"));
        assert_eq!(ticks.last().map(|t| t.1.as_str()), Some("20 s"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
