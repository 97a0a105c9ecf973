//! `conformance` binary: parses the command line and runs one mode.
//! Exit codes: 0 nothing failed, 1 a case failed, 2 usage or connection error.

use clap::{Parser, Subcommand};
use conformance::outcome::Report;
use conformance::profiles::ProfileSuite;
use conformance::{cases, now_rfc3339, profiles, report, validate, wire};
use protocol::schema::SchemaSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Validates NHEM servers and clients over the wire, live, through a proxy, or from files.
#[derive(Parser)]
#[command(name = "conformance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    #[command(flatten)]
    tls: client_io::tls::TrustArgs,
}

/// NHEM's password for `auth` (also from `NHEM_PASSWORD`; never printed by `--help`).
#[derive(clap::Args)]
struct PasswordArg {
    /// Password sent in `auth` (default: the profile's, NHEM 31415).
    #[arg(long, env = "NHEM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// What the server suite cannot find out about the subject and the operator declares
/// (handler); a case that needs an undeclared one says so and is informational.
#[derive(clap::Args)]
struct DeclaredArgs {
    /// The server's heartbeat interval (handler: RFC 6455 pings and the heartbeat timeout,
    /// default 30s); given, the ping-cadence and timeout cases run (a short one, e.g. 500ms,
    /// keeps them fast).
    #[arg(long, value_parser = humantime::parse_duration)]
    heartbeat_interval: Option<Duration>,
    /// The server's connection limit (handler); given, the suite opens that many connections
    /// and expects the next to be refused (1013).
    #[arg(long)]
    max_connections: Option<usize>,
    /// The server's largest accepted message in bytes (handler default 10485760); the suite
    /// sends one byte more and expects 1009.
    #[arg(long)]
    max_payload: Option<usize>,
    /// A field the server requires in `data` (handler `requiredFields`); given, the suite
    /// sends `data` without it and expects `success:false`.
    #[arg(long)]
    required_field: Option<String>,
}

impl From<DeclaredArgs> for cases::Declared {
    fn from(d: DeclaredArgs) -> Self {
        cases::Declared {
            heartbeat_interval: d.heartbeat_interval,
            max_connections: d.max_connections,
            max_payload: d.max_payload,
            required_field: d.required_field,
        }
    }
}

/// Which protocol a mode speaks.
#[derive(clap::Args)]
struct ProfileArg {
    /// The protocol: nhem (default), ecg, monitor, handler or retroboard.
    #[arg(long, default_value = "nhem")]
    profile: String,
}

impl ProfileArg {
    /// The protocol, for the modes that need only its contract (validate, proxy): every
    /// profile `protocol` registers, whether or not it has a suite here yet.
    fn protocol(&self) -> Result<&'static dyn protocol::Profile, ExitCode> {
        protocol::profile::find(&self.profile).ok_or_else(|| {
            usage_error(format!(
                "unknown --profile {:?}; one of {}",
                self.profile,
                protocol::profile::names()
            ))
        })
    }

    fn suite(&self) -> Result<&'static dyn ProfileSuite, ExitCode> {
        profiles::find(&self.profile).ok_or_else(|| {
            usage_error(format!(
                "unknown --profile {:?}; one of {}",
                self.profile,
                profiles::names()
            ))
        })
    }
}

#[derive(Subcommand)]
enum Mode {
    /// Validate message files (.json) and transcripts (.jsonl) against the schemas.
    Validate {
        /// Files or directories (searched recursively for .json and .jsonl).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        profile: ProfileArg,
        /// Message kind for every message (NHEM's form models have no `type`, e.g.
        /// control_request); by default each message is classified by the profile.
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        out: Outputs,
    },
    /// Run the server suite of a profile against a live server.
    Server {
        /// The protocol to judge: nhem (default), ecg, monitor, handler or retroboard (see
        /// --list-cases).
        #[arg(long, default_value = "nhem")]
        profile: String,
        /// Print the profile's case ids and titles, then exit.
        #[arg(long)]
        list_cases: bool,
        /// WebSocket URL: NHEM's endpoint (ws://127.0.0.1:30415/) or another profile's base
        /// URL (ws://127.0.0.1:5000), to which it appends its own path and query.
        #[arg(long, required_unless_present = "list_cases")]
        ws: Option<String>,
        /// HTTP base URL, e.g. http://127.0.0.1:8421 (without it the HTTP cases are skipped).
        #[arg(long)]
        http: Option<String>,
        #[command(flatten)]
        auth: PasswordArg,
        /// The token or key of profiles other than NHEM (ECG: the `?token=`); NHEM uses
        /// --password. Never printed.
        #[arg(long, env = "CONFORMANCE_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// How long to capture the broadcast for rate and jitter (stream cases of other
        /// profiles capture at least 50 intervals).
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        window: Duration,
        /// The stream interval the server is expected to keep, when it was started with a
        /// non-default one (e.g. 20ms); default: the profile's (ECG: 160 ms).
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        /// How long the server may take to close a client that never authenticates.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        auth_timeout: Duration,
        /// The server's idle timeout (monitor: 90s by default); given, the idle-timeout case
        /// runs and waits that long for the close.
        #[arg(long, value_parser = humantime::parse_duration)]
        idle_timeout: Option<Duration>,
        /// Never change server state (skips pause/resume and config set).
        #[arg(long)]
        no_mutate: bool,
        #[command(flatten)]
        declared: DeclaredArgs,
        #[command(flatten)]
        out: Outputs,
    },
    /// Run a probe server that a third-party client connects to, and judge the client.
    Client {
        #[command(flatten)]
        profile: ProfileArg,
        /// Address to listen on, e.g. 127.0.0.1:30415 (point the client at ws://ADDR/; ECG
        /// clients at ws://ADDR/ws/ecg/stream?token=…; monitor clients at ws://ADDR/ws;
        /// RetroBoard's Socket.IO clients at http://ADDR).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// How long to run; the probe stops by itself (at least 8 s for the full script;
        /// RetroBoard's drop, back-off and `41` script needs about 20 s).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[command(flatten)]
        auth: PasswordArg,
        /// The token of profiles other than NHEM that the probe accepts (ECG default:
        /// ecg-demo-token).
        #[arg(long, env = "CONFORMANCE_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Frame rate of the NHEM probe's broadcast.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
        fps: u32,
        /// Stream interval of other profiles' probes (ECG default: 160ms); for monitor, the
        /// ping interval the client is expected to keep (default 30s; the script then needs
        /// about 2.2 × it plus the client's back-off).
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        /// With --tls-cert/--tls-key, clients reach the probe over wss://.
        #[command(flatten)]
        listener_tls: reference_server::core::TlsArgs,
        #[command(flatten)]
        out: Outputs,
    },
    /// Forward a real client to a real server and validate both directions live.
    Proxy {
        #[command(flatten)]
        profile: ProfileArg,
        /// Address clients connect to, e.g. 127.0.0.1:30416.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The real server's WebSocket URL, e.g. ws://127.0.0.1:30415/ (ECG: the full stream
        /// URL with its token, ws://127.0.0.1:5000/ws/ecg/stream?token=…)
        #[arg(long)]
        upstream: String,
        /// How long to run; the proxy stops by itself.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// With --tls-cert/--tls-key, clients reach the proxy over wss://.
        #[command(flatten)]
        listener_tls: reference_server::core::TlsArgs,
        #[command(flatten)]
        out: Outputs,
    },
    /// Record a scripted session as a redacted JSONL transcript (diffable, validatable).
    Record {
        #[command(flatten)]
        profile: ProfileArg,
        /// The server's WebSocket URL (NHEM: the endpoint; ECG: the base ws://host:port).
        #[arg(long)]
        ws: String,
        #[command(flatten)]
        auth: PasswordArg,
        /// The token or key of profiles other than NHEM (ECG default: ecg-demo-token).
        #[arg(long, env = "CONFORMANCE_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Data frames to keep in the transcript.
        #[arg(long, default_value_t = 3)]
        frames: usize,
        /// Transcript file to write (.jsonl); `-` for standard output.
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
}

fn schemas_of(profile: &dyn protocol::Profile) -> Arc<SchemaSet> {
    Arc::new(SchemaSet::load(profile).expect("the embedded schemas compile"))
}

/// The secret a profile's clients send: `--secret`, else `--password`, else the profile's
/// default (the seed's or its documented demo value).
fn secret_for(
    profile: &dyn protocol::Profile,
    secret: Option<String>,
    password: Option<String>,
) -> String {
    secret
        .or(password)
        .or_else(|| profile.default_secret().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether a connection to the host and port of `ws_url` opens within 5 s (for `wss://`,
/// with a TLS handshake this process trusts, so an untrusted certificate is one clear error).
async fn reachable(ws_url: &str) -> Result<(), String> {
    let uri: hyper::Uri = ws_url
        .parse()
        .map_err(|e| format!("--ws {ws_url:?} is not a URL ({e}); e.g. ws://127.0.0.1:5000"))?;
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    match tokio::time::timeout(
        Duration::from_secs(5),
        conformance::wire::tls::connect(&host, port, tls),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "cannot connect to {ws_url}: {e} ({})",
            conformance::wire::tls::connect_hint(&e.to_string())
        )),
        Err(_) => Err(format!(
            "cannot connect to {ws_url}: no answer within 5 s (check --ws)"
        )),
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn listen_error(listen: std::net::SocketAddr, e: &std::io::Error) -> ExitCode {
    if e.kind() == std::io::ErrorKind::Unsupported {
        return usage_error(e.to_string());
    }
    usage_error(format!(
        "cannot listen on {listen}: {e} (choose another --listen address)"
    ))
}

/// Where a run's reports go.
#[derive(clap::Args)]
struct Outputs {
    /// Write report.json, report.md and report.junit.xml into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Append the Markdown summary to this file (e.g. "$GITHUB_STEP_SUMMARY" in a CI step).
    #[arg(long)]
    summary: Option<PathBuf>,
}

/// Appends `markdown` to `path` (created if missing), as CI step summaries expect.
fn append_summary(path: &std::path::Path, markdown: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{markdown}")
}

/// Prints the summary, writes the reports, and turns the verdict into the exit code.
fn conclude(report: Report, out: &Outputs) -> ExitCode {
    let report = &report;
    let dir = out.report.as_ref();
    for case in &report.cases {
        let note = case
            .evidence
            .first()
            .map(|e| e.note.as_str())
            .unwrap_or_default();
        println!(
            "{:<14} {:<45} {}",
            case.outcome.as_str(),
            case.id,
            note.chars().take(120).collect::<String>()
        );
    }
    let s = &report.summary;
    println!(
        "\n{} cases: {} pass, {} non-strict, {} informational, {} fail",
        s.total, s.pass, s.non_strict, s.informational, s.fail
    );
    if let Some(dir) = dir {
        match report::write_all(report, dir) {
            Ok(files) => println!(
                "reports: {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => {
                return usage_error(format!("cannot write reports into {}: {e}", dir.display()))
            }
        }
    }
    if let Some(path) = &out.summary {
        if let Err(e) = append_summary(path, &report::to_markdown(report)) {
            return usage_error(format!(
                "cannot append the summary to {}: {e} (check --summary)",
                path.display()
            ));
        }
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.tls.configure() {
        return usage_error(e);
    }
    let started_at = now_rfc3339();
    let started = Instant::now();
    match cli.mode {
        Mode::Validate {
            paths,
            profile,
            kind,
            out,
        } => {
            let subject_profile = match profile.protocol() {
                Ok(p) => p,
                Err(code) => return code,
            };
            if let Some(k) = kind.as_deref() {
                if !subject_profile.kinds().iter().any(|known| known.name == k) {
                    let known: Vec<_> = subject_profile.kinds().iter().map(|k| k.name).collect();
                    return usage_error(format!(
                        "unknown --kind {k:?} for {}; one of {}",
                        subject_profile.name(),
                        known.join(", ")
                    ));
                }
            }
            let schemas = schemas_of(subject_profile);
            let mut cases = Vec::new();
            for path in &paths {
                let files = match validate::collect_files(path) {
                    Ok(f) if !f.is_empty() => f,
                    Ok(_) => {
                        return usage_error(format!(
                            "{} holds no .json or .jsonl files",
                            path.display()
                        ))
                    }
                    Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
                };
                for file in files {
                    let (messages, findings) =
                        validate::check_file(&schemas, &file, kind.as_deref());
                    for finding in &findings {
                        eprintln!("{finding}");
                    }
                    cases.push(validate::file_case(&file, messages, &findings));
                }
            }
            let subject = paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            conclude(
                Report::new(
                    "validate",
                    subject,
                    started_at,
                    started.elapsed().as_secs_f64(),
                    cases,
                )
                .for_profile(subject_profile.name()),
                &out,
            )
        }
        Mode::Server {
            profile,
            list_cases,
            ws,
            http,
            auth: PasswordArg { password },
            secret,
            window,
            interval,
            auth_timeout,
            idle_timeout,
            no_mutate,
            declared,
            out,
        } => {
            let Some(suite) = profiles::find(&profile) else {
                return usage_error(format!(
                    "unknown --profile {profile:?}; one of {}",
                    profiles::names()
                ));
            };
            if list_cases {
                for case in suite.cases() {
                    println!("{:<45} {}", case.id, case.title);
                }
                return ExitCode::SUCCESS;
            }
            let Some(ws) = ws else {
                return usage_error("--ws is required (the server's WebSocket URL)");
            };
            // One TCP connection up front: an unreachable subject is a usage error, not 50
            // failures. (A plain TCP connect: some profiles refuse a bare WebSocket upgrade.)
            if let Err(e) = reachable(&ws).await {
                return usage_error(e);
            }
            let subject_profile = suite.profile();
            let ctx = cases::Ctx {
                ws_url: ws.clone(),
                http_url: http.clone(),
                secret: secret_for(subject_profile, secret, password),
                schemas: schemas_of(subject_profile),
                window,
                mutate: !no_mutate,
                auth_timeout,
                period: interval,
                idle_timeout,
                declared: declared.into(),
            };
            let cases = suite.run(&ctx).await;
            let subject = format!("{ws}{}", http.map(|h| format!(" {h}")).unwrap_or_default());
            conclude(
                Report::new(
                    "server",
                    subject,
                    started_at,
                    started.elapsed().as_secs_f64(),
                    cases,
                )
                .for_profile(subject_profile.name()),
                &out,
            )
        }
        Mode::Client {
            profile,
            listen,
            duration,
            auth: PasswordArg { password },
            secret,
            fps,
            interval,
            listener_tls,
            out,
        } => {
            let suite = match profile.suite() {
                Ok(suite) => suite,
                Err(code) => return code,
            };
            let tls = match listener_tls.acceptor() {
                Ok(tls) => tls,
                Err(e) => return usage_error(e),
            };
            // Socket.IO clients are given the HTTP origin (they open with long-polling).
            let scheme = match suite.profile().transport() {
                protocol::profile::Transport::SocketIo => tls.http_scheme(),
                _ => tls.ws_scheme(),
            };
            let request = profiles::ProbeRequest {
                listen,
                duration,
                secret: secret_for(suite.profile(), secret, password).into(),
                fps,
                interval,
                tls,
            };
            eprintln!(
                "{} probe listening on {scheme}://{listen}/ for {}",
                suite.profile().name(),
                humantime::format_duration(duration)
            );
            let cases = match suite.probe(request).await {
                Ok(cases) => cases,
                Err(e) => return listen_error(listen, &e),
            };
            conclude(
                Report::new(
                    "client",
                    format!("{scheme}://{listen}/"),
                    started_at,
                    started.elapsed().as_secs_f64(),
                    cases,
                )
                .for_profile(suite.profile().name()),
                &out,
            )
        }
        Mode::Proxy {
            profile,
            listen,
            upstream,
            duration,
            listener_tls,
            out,
        } => {
            let subject_profile = match profile.protocol() {
                Ok(p) => p,
                Err(code) => return code,
            };
            let tls = match listener_tls.acceptor() {
                Ok(tls) => tls,
                Err(e) => return usage_error(e),
            };
            if let Err(e) = wire::WsConn::connect(&upstream, Duration::from_secs(5)).await {
                return usage_error(e);
            }
            let scheme = tls.ws_scheme();
            eprintln!(
                "proxy {scheme}://{listen}/ -> {upstream} for {}",
                humantime::format_duration(duration)
            );
            let config = conformance::proxy::ProxyConfig {
                listen,
                upstream: upstream.clone(),
                duration,
                tls,
            };
            let cases = match conformance::proxy::run(config, schemas_of(subject_profile)).await {
                Ok(cases) => cases,
                Err(e) => return listen_error(listen, &e),
            };
            conclude(
                Report::new(
                    "proxy",
                    format!("{scheme}://{listen}/ -> {upstream}"),
                    started_at,
                    started.elapsed().as_secs_f64(),
                    cases,
                )
                .for_profile(subject_profile.name()),
                &out,
            )
        }
        Mode::Record {
            profile,
            ws,
            auth: PasswordArg { password },
            secret,
            frames,
            out,
        } => {
            let suite = match profile.suite() {
                Ok(suite) => suite,
                Err(code) => return code,
            };
            let secret = secret_for(suite.profile(), secret, password);
            let lines = match suite.record(&ws, &secret, frames).await {
                Ok(lines) => lines,
                Err(e) => return usage_error(e),
            };
            let text = conformance::record::to_jsonl(&lines);
            if out.as_os_str() == "-" {
                print!("{text}");
            } else if let Err(e) = std::fs::write(&out, text) {
                return usage_error(format!("cannot write {}: {e}", out.display()));
            } else {
                eprintln!("{} messages written to {}", lines.len(), out.display());
            }
            ExitCode::SUCCESS
        }
    }
}
