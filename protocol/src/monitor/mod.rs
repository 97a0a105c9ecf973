//! The monitor profile (`PROFILES.md` §2): a monitoring service's WebSocket API with an
//! envelope `{type, id, timestamp, data, meta}` on four endpoints, subscribe filters and a
//! per-connection rate limit.
//!
//! This module holds what is decided about messages, not sockets: the endpoints and the
//! families each carries, the client and server messages with their decoders ([`client`],
//! [`server`]), and the subscription semantics ([`subscriptions`]) a server applies before it
//! sends an event.

pub mod client;
mod profile;
pub mod server;
pub mod subscriptions;

pub use client::{
    parse_client_message, ClientMessage, Metric, RequestData, Subscribe, Unsubscribe,
};
pub use profile::{Monitor, MONITOR};
pub use server::{decode_server, ServerMessage};
pub use subscriptions::{EventName, Family, Subscriptions};

/// The seed's port.
pub const DEFAULT_PORT: u16 = 8080;
/// The seed's example API key.
pub const DEFAULT_API_KEY: &str = "your-api-key";
/// Client messages per connection per fixed window before `RATE_LIMIT_EXCEEDED`.
pub const RATE_LIMIT_MESSAGES: u32 = 120;
/// The rate limit's window, in seconds, aligned to the connection's open.
pub const RATE_LIMIT_WINDOW_S: u64 = 60;
/// Largest client message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The four WebSocket endpoints; any other path is a 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/ws`: every family.
    Main,
    /// `/ws/performance`: `performance` only.
    Performance,
    /// `/ws/alerts`: `alert` only.
    Alerts,
    /// `/ws/status`: `status` only.
    Status,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Main,
        Endpoint::Performance,
        Endpoint::Alerts,
        Endpoint::Status,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Main => "/ws",
            Endpoint::Performance => "/ws/performance",
            Endpoint::Alerts => "/ws/alerts",
            Endpoint::Status => "/ws/status",
        }
    }

    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Whether this endpoint carries `family` (`connection`, `pong` and `error` go everywhere).
    pub fn carries(self, family: Family) -> bool {
        match self {
            Endpoint::Main => true,
            Endpoint::Performance => family == Family::Performance,
            Endpoint::Alerts => family == Family::Alert,
            Endpoint::Status => family == Family::Status,
        }
    }

    /// Whether `request_data` is answered here (its reply is a `performance` message).
    pub fn answers_request_data(self) -> bool {
        self.carries(Family::Performance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::same_json;
    use serde_json::Value;
    use std::path::PathBuf;

    /// The typed models lose nothing: every valid fixture decodes and re-encodes to itself.
    /// (Refusals and their rules are checked for every profile by `tests/it/profiles.rs`.)
    #[test]
    fn valid_fixtures_survive_decode_then_encode() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/monitor/valid");
        let mut wrong = Vec::new();
        let kinds = client::CLIENT_KINDS
            .iter()
            .chain(server::SERVER_KINDS.iter());
        for kind in kinds {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(kind))
                .expect("a fixture folder per kind")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).expect("readable");
                let message: Value = serde_json::from_str(&text).expect("JSON");
                let again = match *kind {
                    k if client::CLIENT_KINDS.contains(&k) => {
                        client::decode_client(k, message.clone()).map(|m| m.to_value())
                    }
                    k => server::decode_server(k, message.clone()).map(|m| m.to_value()),
                };
                match again {
                    Ok(value) if same_json(&value, &message) => {}
                    Ok(value) => wrong.push(format!("{}: re-encodes as {value}", path.display())),
                    Err(e) => wrong.push(format!("{}: refused: {e}", path.display())),
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn endpoints_carry_their_families_only() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(endpoint.path()), Some(endpoint));
            let carried: Vec<Family> = Family::ALL
                .into_iter()
                .filter(|f| endpoint.carries(*f))
                .collect();
            let expected = match endpoint {
                Endpoint::Main => Family::ALL.to_vec(),
                Endpoint::Performance => vec![Family::Performance],
                Endpoint::Alerts => vec![Family::Alert],
                Endpoint::Status => vec![Family::Status],
            };
            assert_eq!(carried, expected, "{}", endpoint.path());
        }
        assert_eq!(Endpoint::from_path("/ws/other"), None);
        assert!(Endpoint::Performance.answers_request_data());
        assert!(!Endpoint::Alerts.answers_request_data());
    }
}
