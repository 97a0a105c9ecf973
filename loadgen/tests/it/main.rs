//! Integration tests of the load generator against the reference server (loopback, port 0).

use loadgen::client::Scenario;
use loadgen::report::{merge, to_html, to_markdown, LoadReport};
use loadgen::run::{run, Io, RunConfig};
use loadgen::slo::{regressions, Slo};
use reference_server::nhem::{RunningServer, Settings};
use std::time::Duration;

async fn server() -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (
        RunningServer::start(Settings::for_tests(dir.path().to_owned()))
            .await
            .expect("server starts"),
        dir,
    )
}

fn config(server: &RunningServer, clients: usize, scenario: Scenario) -> RunConfig {
    RunConfig {
        profile: &loadgen::profiles::NhemLoad,
        ws_url: format!("ws://{}/", server.ws_addr),
        http_url: Some(format!("http://{}", server.http_addr)),
        secret: "31415".into(),
        period: None,
        clients,
        ramp_per_s: 1000.0,
        duration: Duration::from_secs(2),
        scenario,
        shard: None,
        slow_fraction: 0.5,
        slow_delay: Duration::from_millis(50),
        churn_session: (Duration::from_millis(500), Duration::from_millis(800)),
        ping_every: None,
        rate: 10.0,
        progress: false,
        io: Io::Readers,
    }
}

fn schema_errors(report: &LoadReport) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../schemas/reports/load-report.json"))
            .expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let value = serde_json::to_value(report).expect("serializes");
    validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn a_broadcast_run_measures_every_frame() {
    let (server, _dir) = server().await;
    // The default (reader threads) and one task per client measure the same way.
    let tasks = run(RunConfig {
        io: Io::Tasks,
        ..config(&server, 20, Scenario::Broadcast)
    })
    .await;
    let r = run(config(&server, 20, Scenario::Broadcast)).await;
    server.stop().await;
    for r in [&tasks, &r] {
        assert_eq!(r.counters.connects, 20);
        assert!(r.frames.received > 20 * 90, "{:?}", r.frames);
        assert_eq!(r.frames.lost, 0, "{:?}", r.frames);
        assert_eq!(r.fairness.clients_measured, 20);
    }
    assert_eq!(
        tasks.generators[0].read_lag_p99_ms, None,
        "no reader threads"
    );
    assert!(
        r.generators[0].read_lag_p99_ms.is_some(),
        "the readers ran the sessions: {:?}",
        r.generators[0]
    );
    assert_eq!(r.counters.connects, 20);
    assert_eq!(r.counters.connect_errors + r.counters.auth_failures, 0);
    // 20 clients × ~2 s × 60 FPS, minus ramp-up.
    assert!(r.frames.received > 20 * 90, "{:?}", r.frames);
    assert_eq!(r.frames.lost, 0, "{:?}", r.frames);
    assert_eq!(
        r.latency.count, r.frames.received,
        "every delivered frame is in the histogram"
    );
    assert!(
        r.latency.p99_ms > 0.0 && r.latency.p99_ms < 1000.0,
        "{:?}",
        r.latency
    );
    assert_eq!(r.fairness.clients_measured, 20);
    assert!(!r.timeline.is_empty());
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
    assert!(to_markdown(&r).contains("one-way (with loss)"));
    assert_eq!(to_html(&r).matches("<svg").count(), 4, "four charts");
}

/// A server started at another frame rate announces it in `status`; the report expects that
/// rate, not the profile's 60.
#[tokio::test]
async fn the_expected_rate_is_the_one_the_server_announced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_tests(dir.path().to_owned());
    settings.fps = 20;
    let server = RunningServer::start(settings).await.expect("server starts");
    let r = run(config(&server, 5, Scenario::Broadcast)).await;
    server.stop().await;
    assert!(
        (r.frames.expected_fps - 20.0).abs() < 1e-9,
        "{:?}",
        r.frames
    );
    assert_eq!(r.frames.lost, 0, "{:?}", r.frames);
}

#[tokio::test]
async fn shards_merge_into_one_report() {
    let (server, _dir) = server().await;
    let (mut a, mut b) = (
        config(&server, 10, Scenario::Broadcast),
        config(&server, 10, Scenario::Broadcast),
    );
    a.shard = Some((0, 2));
    b.shard = Some((1, 2));
    let (ra, rb) = tokio::join!(run(a), run(b));
    server.stop().await;
    assert_eq!((ra.clients, rb.clients), (5, 5));
    let merged = merge(&[ra.clone(), rb.clone()]).expect("merges");
    assert_eq!(merged.clients, 10);
    assert_eq!(
        merged.frames.received,
        ra.frames.received + rb.frames.received
    );
    assert_eq!(merged.latency.count, ra.latency.count + rb.latency.count);
    assert!(merged.latency.max_ms >= ra.latency.max_ms.max(rb.latency.max_ms));
    assert_eq!(merged.fairness.clients_measured, 10);
    // Merging one report reproduces its figures exactly (percentiles come from the histograms).
    let again = merge(std::slice::from_ref(&ra)).expect("merges");
    assert_eq!(
        (again.latency, again.frames.received),
        (ra.latency, ra.frames.received)
    );
    assert!(
        schema_errors(&merged).is_empty(),
        "{:?}",
        schema_errors(&merged)
    );
}

#[tokio::test]
async fn churn_reconnects_and_polling_polls() {
    let (server, _dir) = server().await;
    let (churn, polling) = tokio::join!(
        run(config(&server, 5, Scenario::Churn)),
        run(config(&server, 5, Scenario::Polling))
    );
    server.stop().await;
    assert!(churn.counters.reconnects >= 5, "{:?}", churn.counters);
    assert!(churn.frames.received > 0);
    assert_eq!(polling.counters.http_errors, 0, "{:?}", polling.counters);
    // 5 clients at 20 Hz for ~2 s.
    assert!(polling.frames.received >= 5 * 30, "{:?}", polling.frames);
}

#[tokio::test]
async fn slos_and_regressions_gate_on_the_report() {
    let (server, _dir) = server().await;
    let r = run(config(&server, 5, Scenario::Broadcast)).await;
    server.stop().await;
    // Objectives at the measured values themselves, in two units: `<=` is met, `<` is not,
    // so a check that read another percentile or scaled a unit wrongly fails here. (A limit
    // below 1 µs could never be met: histograms start at 1 µs.)
    let p50_ms = r.latency.p50_ms;
    let p99_us = r.latency.p99_ms * 1000.0;
    for (objective, expected) in [
        (format!("p50<={p50_ms}ms"), true),
        (format!("p50<{p50_ms}ms"), false),
        // ±0.5 µs: far below a unit mistake (×1000), above float rounding in the conversion.
        (format!("p99<={}us", p99_us + 0.5), true),
        (format!("p99<{}us", p99_us - 0.5), false),
        ("p99<=10s".to_owned(), true),
    ] {
        let slo: Slo = objective.parse().expect("valid");
        assert_eq!(
            slo.check(&r).met,
            expected,
            "{objective} against {:?}",
            r.latency
        );
    }
    // The HTML report's banner tells met from breached, and the table marks each objective.
    let mut gated = r.clone();
    let met: Slo = "p99<=10s".parse().expect("valid");
    let breached: Slo = format!("p50<{p50_ms}ms").parse().expect("valid");
    gated.slo = vec![met.check(&r)];
    let html = to_html(&gated);
    assert!(
        html.contains("<div id=\"verdict\" class=\"banner met\">SLOs met: 1 of 1</div>"),
        "{html}"
    );
    gated.slo.push(breached.check(&r));
    let html = to_html(&gated);
    assert!(
        html.contains("class=\"banner breached\">SLOs breached: 1 of 2"),
        "{html}"
    );
    assert_eq!(
        html.matches("<td class=\"breached\">breached</td>").count(),
        1
    );
    assert!(
        !html.contains("<pre>") && !html.contains("| ---"),
        "no raw Markdown in the page"
    );
    assert!(
        regressions(&r, &r, 0.1).is_empty(),
        "a report does not regress against itself"
    );
    let mut worse = r.clone();
    worse.latency.p99_ms = r.latency.p99_ms * 2.0 + 1.0;
    assert_eq!(regressions(&r, &worse, 0.1).len(), 1);
}

/// The ECG profile: a per-connection stream with no counter, numbered by timestamp steps.
#[tokio::test]
async fn an_ecg_run_numbers_frames_by_timestamps_and_measures_jitter() {
    use reference_server::ecg::{EcgSettings, RunningEcgServer};
    let mut settings = EcgSettings::for_tests();
    settings.interval_ms = 20;
    let server = RunningEcgServer::start(settings)
        .await
        .expect("server starts");
    let mut config = RunConfig {
        profile: &loadgen::profiles::EcgLoad,
        ws_url: server.ws_base(),
        http_url: None,
        secret: "ecg-demo-token".into(),
        period: Some(Duration::from_millis(20)),
        clients: 20,
        ramp_per_s: 1000.0,
        duration: Duration::from_secs(2),
        scenario: Scenario::Broadcast,
        shard: None,
        slow_fraction: 0.5,
        slow_delay: Duration::from_millis(50),
        churn_session: (Duration::from_millis(500), Duration::from_millis(800)),
        ping_every: None,
        rate: 10.0,
        progress: false,
        io: Io::Readers,
    };
    let r = run(config.clone()).await;
    assert_eq!(r.profile, "ecg");
    assert_eq!(r.counters.connects, 20, "{:?}", r.counters);
    assert_eq!(r.counters.connect_errors + r.counters.auth_failures, 0);
    // 20 clients × ~2 s × 50 frames/s, minus ramp-up and the first interval.
    assert!(r.frames.received > 20 * 60, "{:?}", r.frames);
    assert_eq!(r.frames.lost + r.frames.duplicated, 0, "{:?}", r.frames);
    assert_eq!(
        r.auth.count, 20,
        "one session start (first frame) per client"
    );
    assert!(r.jitter.count > 0 && r.jitter.count < r.frames.received);
    assert!((r.frames.expected_fps - 50.0).abs() < 1e-9);
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
    assert!(to_markdown(&r).starts_with("# ECG load report"));

    // Slow readers with a backlog still stop at the end of the run and are counted.
    config.scenario = Scenario::SlowConsumers;
    config.clients = 4;
    config.slow_delay = Duration::from_millis(300);
    config.duration = Duration::from_secs(1);
    let slow = run(config.clone()).await;
    assert_eq!(slow.counters.connects, 4, "{:?}", slow.counters);
    assert_eq!(slow.fairness.clients_measured, 4);

    // A wrong token: every connection is closed at once, and the report says so.
    config.scenario = Scenario::Broadcast;
    config.secret = "wrong".into();
    config.clients = 3;
    config.duration = Duration::from_secs(1);
    let refused = run(config).await;
    server.stop().await;
    assert_eq!(refused.frames.received, 0);
    assert!(
        refused.endings.keys().any(|k| k.starts_with("close 1000")),
        "{:?}",
        refused.endings
    );
}

/// `merge --summary FILE` appends the Markdown summary, and every run writes slo.junit.xml.
#[tokio::test]
async fn merge_appends_a_summary_and_writes_slo_junit() {
    let (server, _dir) = server().await;
    let r = run(config(&server, 3, Scenario::Broadcast)).await;
    server.stop().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    std::fs::write(&report, serde_json::to_string(&r).expect("JSON")).expect("written");
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").expect("written");
    let out = dir.path().join("merged");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("merge")
        .arg(&report)
        .args(["--slo", "p99<=10s", "--slo", "connect_errors=1"])
        .arg("--report")
        .arg(&out)
        .arg("--summary")
        .arg(&summary)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("loadgen runs");
    assert_eq!(status.code(), Some(1), "one SLO is breached");
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        text.starts_with("earlier step\n"),
        "appended, not replaced: {text}"
    );
    assert!(text.contains("p99<=10s"), "{text}");
    let junit = std::fs::read_to_string(out.join("slo.junit.xml")).expect("junit");
    assert!(
        junit.contains("tests=\"2\"") && junit.contains("failures=\"1\""),
        "{junit}"
    );
}

/// The monitor profile: Bearer key on the upgrade, `performance.system` numbered by timestamp
/// steps, half the clients holding a critical-CPU filter, and ping → pong round trips.
#[tokio::test]
async fn a_filtered_monitor_run_delivers_exactly_the_matching_sets() {
    use reference_server::monitor::{MonitorSettings, RunningMonitorServer};
    let mut settings = MonitorSettings::for_tests();
    settings.performance_interval_ms = 20;
    settings.cycle_s = 1.0;
    settings.custom_interval_s = 0.1;
    let server = RunningMonitorServer::start(settings)
        .await
        .expect("server starts");
    let mut config = RunConfig {
        profile: &loadgen::profiles::MonitorLoad,
        ws_url: server.ws_base(),
        http_url: None,
        secret: "your-api-key".into(),
        period: Some(Duration::from_millis(20)),
        clients: 20,
        ramp_per_s: 1000.0,
        duration: Duration::from_secs(4),
        scenario: Scenario::Filtered,
        shard: None,
        slow_fraction: 0.5,
        slow_delay: Duration::from_millis(50),
        churn_session: (Duration::from_millis(500), Duration::from_millis(800)),
        ping_every: Some(Duration::from_millis(250)),
        rate: 10.0,
        progress: false,
        io: Io::Readers,
    };
    let r = run(config.clone()).await;
    assert_eq!(r.profile, "monitor");
    assert_eq!(r.counters.connects, 20, "{:?}", r.counters);
    assert_eq!(r.counters.connect_errors + r.counters.auth_failures, 0);
    // 20 clients × ~4 s × 50 samples/s; custom metrics are subscribed away, so no duplicates.
    assert!(r.frames.received > 20 * 150, "{:?}", r.frames);
    assert_eq!(r.frames.lost + r.frames.duplicated, 0, "{:?}", r.frames);
    assert_eq!(r.counters.filter_mismatches, 0);
    let check = r.filter.clone().expect("the filtered scenario checks");
    assert_eq!((check.clients_filtered, check.clients_unfiltered), (10, 10));
    assert!(check.exact && check.admitted_min >= 2, "{check:?}");
    assert!(r.counters.pings > 100 && r.counters.pongs + 20 >= r.counters.pings);
    assert!(r.rtt.count > 100, "{:?}", r.rtt);
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
    assert!(to_markdown(&r).contains("**Filters:**"));
    for (objective, met) in [
        ("filter_spread=0", true),
        ("filter_mismatches=0", true),
        ("rtt_p99<=1000ms", true),
        ("rtt_p99<0.001ms", false),
    ] {
        let slo: Slo = objective.parse().expect("a valid objective");
        assert_eq!(slo.check(&r).met, met, "{objective}: {:?}", slo.check(&r));
    }

    // A wrong key: refused, and the report says so.
    config.secret = "wrong".into();
    config.clients = 3;
    config.duration = Duration::from_secs(1);
    config.scenario = Scenario::Broadcast;
    config.ping_every = None;
    let refused = run(config).await;
    server.stop().await;
    assert_eq!(refused.frames.received, 0);
    assert_eq!(refused.counters.auth_failures, 3, "{:?}", refused.endings);
    assert_eq!(refused.endings.get("auth refused"), Some(&3));
}

/// A handler run of `scenario` against `reference-server handler` with 10 clients for 2 s.
async fn handler_run(scenario: Scenario) -> LoadReport {
    use reference_server::handler::{HandlerSettings, RunningHandlerServer};
    let server = RunningHandlerServer::start(HandlerSettings::for_tests())
        .await
        .expect("server starts");
    let report = run(RunConfig {
        profile: &loadgen::profiles::HandlerLoad,
        ws_url: server.ws_base(),
        http_url: None,
        secret: String::new(),
        period: Some(Duration::from_millis(50)),
        clients: 10,
        ramp_per_s: 1000.0,
        duration: Duration::from_secs(2),
        scenario,
        shard: None,
        slow_fraction: 0.0,
        slow_delay: Duration::from_millis(50),
        churn_session: (Duration::from_millis(500), Duration::from_millis(800)),
        ping_every: None,
        rate: 20.0,
        progress: false,
        io: Io::Readers,
    })
    .await;
    server.stop().await;
    assert!(
        schema_errors(&report).is_empty(),
        "{:?}",
        schema_errors(&report)
    );
    assert_eq!(
        report.counters.connect_errors + report.counters.auth_failures,
        0
    );
    report
}

#[tokio::test]
async fn handler_fan_out_delivers_every_publish_to_every_subscriber() {
    let r = handler_run(Scenario::Broadcast).await;
    // The publisher starts after 0.5 s and publishes every 50 ms: about 30 each.
    let per_client = r.counters.received / 10;
    assert!((20..=32).contains(&per_client), "{per_client} per client");
    assert_eq!(
        r.counters.received % 10,
        0,
        "every subscriber got the same publishes"
    );
    assert_eq!((r.counters.lost, r.counters.duplicated), (0, 0));
    assert!(
        r.counters.pongs >= 20,
        "publish_response round trips: {}",
        r.counters.pongs
    );
}

#[tokio::test]
async fn handler_rpc_and_ingest_answer_every_request_once() {
    for scenario in [Scenario::Rpc, Scenario::Ingest] {
        let r = handler_run(scenario).await;
        // 10 clients × 20/s × 2 s.
        assert!(
            (350..=400).contains(&r.counters.received),
            "{}",
            r.counters.received
        );
        assert_eq!(
            (r.counters.lost, r.counters.timeouts, r.counters.refused),
            (0, 0, 0)
        );
        if scenario == Scenario::Ingest {
            let ingest = r.ingest.expect("an insertId check");
            assert_eq!(ingest.answers_with_id, r.counters.received);
            assert_eq!((ingest.duplicates, ingest.gaps), (0, 0));
        }
    }
}

#[tokio::test]
async fn handler_streams_count_every_message_of_every_stream() {
    let r = handler_run(Scenario::Streams).await;
    assert!(r.counters.received >= 10 * 30, "{}", r.counters.received);
    assert_eq!((r.counters.lost, r.counters.duplicated), (0, 0));
}

/// The TLS smoke: a broadcast over `wss://` and polling over `https://`, against the reference
/// server given a certificate made here, trusted as `--ca-cert` would trust it. (It sets the
/// process's TLS configuration; the other tests here use plain TCP, which it does not touch.)
#[tokio::test]
async fn a_load_runs_over_wss_and_https() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tls, ca) = reference_server::core::transport::self_signed(dir.path()).expect("a cert");
    client_io::tls::configure(Some(&ca), false).expect("the CA loads");
    let mut settings = Settings::for_tests(dir.path().join("data"));
    settings.tls = tls;
    let server = RunningServer::start(settings).await.expect("server starts");
    let tls_config = |scenario| RunConfig {
        ws_url: format!("wss://localhost:{}/", server.ws_addr.port()),
        http_url: Some(format!("https://localhost:{}", server.http_addr.port())),
        ..config(&server, 10, scenario)
    };
    let (broadcast, polling) = tokio::join!(
        run(tls_config(Scenario::Broadcast)),
        run(tls_config(Scenario::Polling))
    );
    server.stop().await;
    assert_eq!(broadcast.counters.connects, 10, "{:?}", broadcast.counters);
    assert_eq!(broadcast.counters.connect_errors, 0);
    // 10 clients × ~2 s × 60 FPS, minus ramp-up.
    assert!(
        broadcast.frames.received > 10 * 90,
        "{:?}",
        broadcast.frames
    );
    assert_eq!(broadcast.frames.lost, 0, "{:?}", broadcast.frames);
    assert_eq!(polling.counters.http_errors, 0, "{:?}", polling.counters);
    assert!(polling.frames.received >= 10 * 30, "{:?}", polling.frames);
}

/// RetroBoard: loadgen posts tagged REST commands and every Socket.IO client gets each one's
/// `current_app` broadcast; when the server restarts, every client reconnects with
/// socket.io-client's back-off and holds the state again (the report's `recovery`).
#[tokio::test]
async fn retroboard_commands_reach_every_client_and_clients_come_back_after_a_restart() {
    use reference_server::retroboard::{RetroBoardSettings, RunningRetroBoardServer};
    let server = RunningRetroBoardServer::start(RetroBoardSettings::for_tests())
        .await
        .expect("server starts");
    let addr = server.addr;
    let config = RunConfig {
        profile: &loadgen::profiles::RetroBoardLoad,
        ws_url: server.ws_base(),
        http_url: None,
        secret: String::new(),
        period: Some(Duration::from_millis(50)),
        clients: 20,
        ramp_per_s: 1000.0,
        duration: Duration::from_secs(2),
        scenario: Scenario::Broadcast,
        shard: None,
        slow_fraction: 0.0,
        slow_delay: Duration::from_millis(50),
        churn_session: (Duration::from_millis(500), Duration::from_millis(800)),
        ping_every: None,
        rate: 10.0,
        progress: false,
        io: Io::Readers,
    };
    let r = run(config.clone()).await;
    assert_eq!(r.profile, "retroboard");
    assert_eq!(r.counters.connects, 20, "{:?}", r.endings);
    assert_eq!(r.auth.count, 20, "every client got its initial state");
    // Commands start after the ramp + 0.5 s and go every 50 ms until the end: about 28.
    let per_client = r.counters.received / 20;
    assert!((15..=32).contains(&per_client), "{per_client} per client");
    assert_eq!(
        r.counters.received % 20,
        0,
        "every client got every command"
    );
    assert_eq!(
        (r.frames.lost, r.frames.duplicated),
        (0, 0),
        "{:?}",
        r.frames
    );
    assert_eq!(r.rtt.count, per_client, "each command's POST answered");
    assert_eq!(r.recovery.count, 0);
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));

    // The reconnect storm in small: the server goes away 1.5 s in and is back on the same
    // port at once; every client is dropped once and holds a session again.
    let run_task = tokio::spawn(run(RunConfig {
        duration: Duration::from_secs(6),
        ..config
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.stop().await;
    let mut settings = RetroBoardSettings::for_tests();
    settings.port = addr.port();
    let again = RunningRetroBoardServer::start(settings)
        .await
        .expect("the server starts again on its port");
    let r = run_task.await.expect("the run ends");
    again.stop().await;
    assert_eq!(r.counters.reconnects, 20, "{:?}", r.endings);
    assert_eq!(r.recovery.count, 20, "{:?}", r.endings);
    // socket.io-client's first wait is 0.5–1.5 s; one failed attempt would add 1–3 s more.
    assert!(r.recovery.max_ms < 4500.0, "{:?}", r.recovery);
    assert!(r.recovery.min_ms >= 400.0, "{:?}", r.recovery);
    assert_eq!(r.auth.count, 40, "every client got its state twice");
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
}
