//! `loadgen` binary. Exit codes: 0 all SLOs met, 1 an SLO breached or a regression found,
//! 2 usage or connection error.

use clap::{Parser, Subcommand, ValueEnum};
use loadgen::client::Scenario;
use loadgen::report::{self, LoadReport};
use loadgen::run::{run, Io, RunConfig};
use loadgen::slo::{regressions, Slo};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Load-tests real-time WebSocket servers (NHEM, ECG, monitor): thousands of clients, latency
/// percentiles, loss, jitter, SLO gates.
#[derive(Parser)]
#[command(name = "loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    tls: client_io::tls::TrustArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum IoArg {
    Readers,
    Tasks,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    /// Every client reads the stream (NHEM: the shared broadcast; ECG: its own stream).
    Broadcast,
    /// A fraction of clients (--slow-fraction) pause after every message (--slow-delay).
    SlowConsumers,
    /// Clients disconnect after 2–5 s and reconnect at once.
    Churn,
    /// HTTP GET /data/realtime?count=1 at 20 Hz per client, as the seed's web frontend polls.
    Polling,
    /// Every other client holds the profile's filter (monitor: critical CPU alerts); the
    /// report checks that each got exactly its matching set.
    Filtered,
    /// Each client starts a server stream of its own at --interval (handler `streams.start`)
    /// and the report judges its cadence, gaps and latency.
    Streams,
    /// Open-loop RPC (handler echo and calculateAverage) at --rate per client; latency from
    /// each call's scheduled time (coordinated omission corrected), timeouts past 10 s.
    Rpc,
    /// Open-loop `data` at --rate per client: data_response latency and the insertId check.
    Ingest,
}

// Parsed once per process: the size of the `run` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a load test; stops by itself after --duration and writes reports into --report.
    Run {
        /// The protocol the clients speak: nhem (default), ecg, monitor, handler or retroboard.
        #[arg(long, default_value = "nhem")]
        profile: String,
        /// WebSocket URL of the server: NHEM's endpoint (default ws://127.0.0.1:30415/) or
        /// another profile's base URL (ECG default ws://127.0.0.1:5000, monitor
        /// ws://127.0.0.1:8080; the profile adds path, token or headers).
        #[arg(long)]
        ws: Option<String>,
        /// HTTP base URL (needed by --scenario polling), e.g. http://127.0.0.1:8421 or
        /// https://host:port
        #[arg(long)]
        http: Option<String>,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// New clients per second while ramping up.
        #[arg(long, default_value_t = 500.0)]
        ramp: f64,
        /// Length of the run from the first connection (e.g. 30s, 2m); at most 1 hour.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// NHEM's password (for `auth`).
        #[arg(long, env = "NHEM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The token or key of other profiles (ECG: `?token=`, default ecg-demo-token; monitor:
        /// the Bearer API key, default your-api-key).
        #[arg(long, env = "LOADGEN_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// The stream period the server was started with, if not the profile's default
        /// (e.g. 20ms for `reference-server ecg --interval-ms 20`).
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        #[arg(long, value_enum, default_value = "broadcast")]
        scenario: ScenarioArg,
        /// Every client sends the profile's application ping this often and the report gives
        /// the ping → pong round trip (monitor; mind the server's rate limit: 120/min).
        #[arg(long, value_parser = humantime::parse_duration)]
        ping_every: Option<Duration>,
        /// Requests per second per client in --scenario rpc and ingest (open loop: sent on
        /// schedule whether or not earlier ones were answered).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Where broadcast sessions are read. readers (default): a few threads that each own
        /// many sockets, about half the CPU per frame, latency taken at the kernel's receive
        /// timestamp (used for the broadcast scenario over ws://; others run in tasks).
        /// tasks: one tokio task per client on tungstenite.
        #[arg(long, value_enum, default_value = "readers")]
        io: IoArg,
        #[arg(long, default_value_t = 0.1)]
        slow_fraction: f64,
        #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
        slow_delay: Duration,
        /// Run shard I of N (e.g. 0/4): clients I, I+N, I+2N… Merge the shards' reports with `merge`.
        #[arg(long)]
        shard: Option<String>,
        /// Objective that sets the exit code, e.g. 'p99<=16.7ms', 'loss<=0.1%', 'connect_errors=0' (repeatable).
        #[arg(long = "slo")]
        slos: Vec<Slo>,
        /// Directory for report.json, report.md, report.html, slo.junit.xml and latency.hgrm.
        #[arg(long, default_value = "reports/load")]
        report: PathBuf,
        /// Append the Markdown summary to this file (e.g. "$GITHUB_STEP_SUMMARY" in a CI step).
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Compare a new report with a baseline; exit 1 when a figure regressed beyond the limit.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// Largest allowed increase, e.g. 10%.
        #[arg(long, default_value = "10%")]
        max_regression: String,
    },
    /// Merge shard reports (report.json files) into one, with exactly merged histograms.
    Merge {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        #[arg(long = "slo")]
        slos: Vec<Slo>,
        #[arg(long, default_value = "reports/load-merged")]
        report: PathBuf,
        /// Append the Markdown summary to this file (e.g. "$GITHUB_STEP_SUMMARY").
        #[arg(long)]
        summary: Option<PathBuf>,
    },
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard {text:?}: write I/N, e.g. 0/4"))?;
    let (i, n): (usize, usize) = (
        i.parse()
            .map_err(|_| format!("--shard {text:?}: I is not a number"))?,
        n.parse()
            .map_err(|_| format!("--shard {text:?}: N is not a number"))?,
    );
    if n == 0 || i >= n {
        return Err(format!("--shard {text:?}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// Appends `markdown` to `path` (created if missing), as CI step summaries expect.
fn append_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{markdown}")
}

/// Applies the SLOs, prints the summary, writes the reports; the exit code follows the SLOs.
fn conclude(mut r: LoadReport, slos: &[Slo], dir: &Path, summary: Option<&Path>) -> ExitCode {
    r.slo = slos.iter().map(|s| s.check(&r)).collect();
    let markdown = report::to_markdown(&r);
    print!("{markdown}");
    if let Some(path) = summary {
        if let Err(e) = append_summary(path, &markdown) {
            return usage_error(format!(
                "cannot append the summary to {}: {e} (check --summary)",
                path.display()
            ));
        }
    }
    match report::write_all(&r, dir) {
        Ok(files) => println!(
            "\nreports: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => return usage_error(format!("cannot write reports into {}: {e}", dir.display())),
    }
    let breached: Vec<_> = r.slo.iter().filter(|s| !s.met).collect();
    if breached.is_empty() {
        return ExitCode::SUCCESS;
    }
    for s in breached {
        eprintln!("SLO breached: {} (actual {:.3})", s.slo, s.actual);
    }
    ExitCode::from(1)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.tls.configure() {
        return usage_error(e);
    }
    match cli.command {
        Command::Run {
            profile,
            ws,
            http,
            clients,
            ramp,
            duration,
            password,
            secret,
            interval,
            scenario,
            ping_every,
            rate,
            io,
            slow_fraction,
            slow_delay,
            shard,
            slos,
            report,
            summary,
        } => {
            if duration > Duration::from_secs(3600) || duration < Duration::from_secs(1) {
                return usage_error("--duration must be between 1s and 1h: load runs are bounded");
            }
            if clients == 0 || clients > 50_000 {
                return usage_error("--clients must be between 1 and 50000");
            }
            let shard = match shard.as_deref().map(parse_shard).transpose() {
                Ok(s) => s,
                Err(e) => return usage_error(e),
            };
            let scenario = match scenario {
                ScenarioArg::Broadcast => Scenario::Broadcast,
                ScenarioArg::SlowConsumers => Scenario::SlowConsumers,
                ScenarioArg::Churn => Scenario::Churn,
                ScenarioArg::Polling => Scenario::Polling,
                ScenarioArg::Filtered => Scenario::Filtered,
                ScenarioArg::Streams => Scenario::Streams,
                ScenarioArg::Rpc => Scenario::Rpc,
                ScenarioArg::Ingest => Scenario::Ingest,
            };
            let Some(load) = loadgen::profiles::find(&profile) else {
                return usage_error(format!(
                    "unknown --profile {profile:?}; one of {}",
                    loadgen::profiles::names()
                ));
            };
            if scenario == Scenario::Polling && !load.has_polling() {
                return usage_error(format!(
                    "--scenario polling polls an HTTP endpoint; {profile} has none (use the default scenario)"
                ));
            }
            if scenario == Scenario::Filtered && load.filtered_hello("").is_none() {
                return usage_error(format!(
                    "--scenario filtered needs subscription filters; {profile} has none (try --profile monitor)"
                ));
            }
            let own = matches!(
                scenario,
                Scenario::Streams | Scenario::Rpc | Scenario::Ingest
            );
            if own
                && load
                    .scenario_session(scenario, "", Duration::from_secs(1))
                    .is_none()
            {
                return usage_error(format!(
                    "--scenario {} is a handler scenario; {profile} has none (try --profile handler)",
                    loadgen::run::scenario_name(scenario)
                ));
            }
            if !(0.01..=10_000.0).contains(&rate) {
                return usage_error(
                    "--rate must be between 0.01 and 10000 requests per second per client",
                );
            }
            if ping_every.is_some() && load.ping(0).is_none() {
                return usage_error(format!(
                    "--ping-every sends the profile's application ping; {profile} has none"
                ));
            }
            if ping_every.is_some_and(|p| p < Duration::from_millis(10)) {
                return usage_error("--ping-every must be at least 10ms");
            }
            let ws = ws.unwrap_or_else(|| load.default_ws().to_owned());
            let secret = secret
                .or(password)
                .or_else(|| load.profile().default_secret().map(str::to_owned))
                .unwrap_or_default();
            if scenario == Scenario::Polling && http.is_none() {
                return usage_error("--scenario polling needs --http http://HOST:PORT");
            }
            if let Some(http) = &http {
                if let Err(e) = client_io::HttpClient::new(http) {
                    return usage_error(e);
                }
            }
            // One probe connection first: an unreachable server is a usage error, not a report.
            if scenario != Scenario::Polling {
                let headers = load.headers(&secret);
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let request =
                    match client_io::ws::upgrade_request(&load.connect_url(&ws, &secret), &headers)
                    {
                        Ok(request) => request,
                        Err(e) => return usage_error(format!("--ws {ws:?}: {e}")),
                    };
                match tokio::time::timeout(Duration::from_secs(5), client_io::ws::connect(request))
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        let hint = client_io::tls::connect_hint(&e.to_string());
                        return usage_error(format!("cannot connect to {ws}: {e} ({hint})"));
                    }
                    Err(_) => {
                        return usage_error(format!(
                            "cannot connect to {ws}: no handshake within 5 s"
                        ))
                    }
                }
            }
            let config = RunConfig {
                profile: load,
                ws_url: ws,
                http_url: http,
                secret,
                period: interval,
                clients,
                ramp_per_s: ramp,
                duration,
                scenario,
                shard,
                slow_fraction,
                slow_delay,
                churn_session: (Duration::from_secs(2), Duration::from_secs(5)),
                ping_every,
                rate,
                progress: std::io::stderr().is_terminal(),
                io: match io {
                    IoArg::Readers => Io::Readers,
                    IoArg::Tasks => Io::Tasks,
                },
            };
            let r = run(config).await;
            conclude(r, &slos, &report, summary.as_deref())
        }
        Command::Compare {
            base,
            new,
            max_regression,
        } => {
            let limit = match max_regression.trim_end_matches('%').parse::<f64>() {
                Ok(v) if v >= 0.0 => v / 100.0,
                _ => {
                    return usage_error(format!(
                        "--max-regression {max_regression:?}: write a percentage such as 10%"
                    ))
                }
            };
            let (base_report, new_report) = match (report::read(&base), report::read(&new)) {
                (Ok(b), Ok(n)) => (b, n),
                (Err(e), _) | (_, Err(e)) => return usage_error(e),
            };
            let found = regressions(&base_report, &new_report, limit);
            if found.is_empty() {
                println!("no regression beyond {max_regression}");
                ExitCode::SUCCESS
            } else {
                for r in found {
                    println!("regression: {r}");
                }
                ExitCode::from(1)
            }
        }
        Command::Merge {
            reports,
            slos,
            report,
            summary,
        } => {
            let mut loaded = Vec::new();
            for path in &reports {
                match report::read(path) {
                    Ok(r) => loaded.push(r),
                    Err(e) => return usage_error(e),
                }
            }
            match report::merge(&loaded) {
                Ok(merged) => conclude(merged, &slos, &report, summary.as_deref()),
                Err(e) => usage_error(e),
            }
        }
    }
}
