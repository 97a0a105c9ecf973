//! The profile abstraction: what every protocol tells the rest of the toolkit about itself.
//!
//! A *profile* is one protocol (NHEM, ECG, …). Everything the server core, the conformance
//! suite and the load generator need to know about a protocol's messages, without knowing the
//! protocol, comes through [`Profile`]: its message kinds and how to tell them apart
//! ([`Profile::classify`], since not every protocol keys its messages by `type`), the decoder
//! with named rules, its error vocabulary, the fields `record` must redact, its transport
//! (plain JSON text frames today; Socket.IO packets later) and its periodic streams (broadcast
//! or per connection, at any period, with loss told by sequence numbers, timestamps or
//! correlation ids).
//!
//! Adding a profile: a module in this crate that implements [`Profile`], its documents under
//! `schemas/<name>/`, and one line in [`PROFILES`].

use crate::error::ParseError;
use serde_json::Value;
use std::time::Duration;

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// The name transcripts use (`"c2s"`, `"s2c"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "c2s" | "client" | "client_to_server" => Some(Direction::ClientToServer),
            "s2c" | "server" | "server_to_client" => Some(Direction::ServerToClient),
            _ => None,
        }
    }
}

/// How a profile's messages travel inside WebSocket frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One JSON document per text frame (NHEM, ECG, handler, monitor).
    JsonText,
    /// Socket.IO v5 packets over Engine.IO v4: an event's payload is the JSON the schemas
    /// describe, inside a packet the profile's codec unwraps first (RetroBoard).
    SocketIo,
}

/// Who a periodic stream goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One stream, serialized once per tick and shared by every client (NHEM `data`).
    Broadcast,
    /// Each connection runs its own stream from its own start (ECG).
    PerConnection,
}

/// How a receiver tells that stream messages went missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossSignal {
    /// An integer member that grows by one per message (JSON Pointer, e.g. `/frame_count`).
    Sequence { pointer: &'static str },
    /// No counter: the scheduled timestamps step by one period, so a step of more than one
    /// period means missing messages.
    TimestampSteps,
    /// Each message answers or carries an id the client chose (JSON Pointer to it).
    Correlation { pointer: &'static str },
}

/// A periodic stream a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// The message kind of the stream's messages.
    pub kind: &'static str,
    pub delivery: Delivery,
    /// The default period (any duration, not only whole frames per second).
    pub period: Duration,
    /// JSON Pointer to the message's *scheduled* send time, when it has one.
    pub timestamp: Option<&'static str>,
    pub loss: LossSignal,
}

/// One message kind: its name (the schema stem and fixture folder) and where it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub name: &'static str,
    /// `None` for messages that are not WebSocket messages (HTTP bodies).
    pub direction: Option<Direction>,
}

/// What a redacted value is replaced by, so the transcript stays schema-valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// [`REDACTED_TIMESTAMP`].
    Timestamp,
    Zero,
    Null,
    /// A fixed string (an id the server generates, e.g. handler's `clientId`).
    Text(&'static str),
}

/// A member whose value changes from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolatileField {
    pub kind: &'static str,
    /// JSON Pointer to the member.
    pub pointer: &'static str,
    pub placeholder: Placeholder,
}

/// The timestamp every redacted timestamp becomes (valid RFC 3339, microseconds).
pub const REDACTED_TIMESTAMP: &str = "2000-01-01T00:00:00.000000Z";

/// Why a message could not be given a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unclassified(pub String);

/// One protocol, as the rest of the toolkit sees it.
pub trait Profile: Sync + Send + std::fmt::Debug {
    /// The profile's name: the CLI value, the folder under `schemas/` and `fixtures/`, and the
    /// first part of every conformance case id.
    fn name(&self) -> &'static str;
    /// One line for `--help` and reports.
    fn title(&self) -> &'static str;
    /// The embedded schema documents.
    fn documents(&self) -> &'static Documents;
    /// Every message kind, with its direction.
    fn kinds(&self) -> &'static [KindInfo];
    /// The kind of a JSON message travelling in `direction`.
    fn classify(&self, direction: Direction, message: &Value)
        -> Result<&'static str, Unclassified>;
    /// Decodes `message` as `kind` with the typed Rust model: `Ok` exactly when the message is
    /// acceptable, else the named rule it breaks.
    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError>;
    /// The password, token or key a reference server accepts by default (the seed's or a
    /// documented demo value), which tools use when none is given.
    fn default_secret(&self) -> Option<&'static str>;
    /// Every `error_code` its servers send (empty: the protocol has no error messages).
    fn error_codes(&self) -> &'static [&'static str];
    /// Members `record` replaces with placeholders.
    fn volatile_fields(&self) -> &'static [VolatileField];
    fn transport(&self) -> Transport {
        Transport::JsonText
    }
    /// The periodic streams its servers send.
    fn streams(&self) -> &'static [StreamSpec];
}

/// Replaces every volatile member of `message` (of `kind`) with its placeholder.
pub fn redact(profile: &dyn Profile, kind: &str, message: &mut Value) {
    for field in profile.volatile_fields().iter().filter(|f| f.kind == kind) {
        if let Some(value) = message.pointer_mut(field.pointer) {
            *value = match field.placeholder {
                Placeholder::Timestamp => Value::from(REDACTED_TIMESTAMP),
                Placeholder::Zero => Value::from(0),
                Placeholder::Null => Value::Null,
                Placeholder::Text(text) => Value::from(text),
            };
        }
    }
}

/// Every profile this build knows; adding one is one line here.
pub static PROFILES: &[&dyn Profile] = &[
    &crate::nhem::NHEM,
    &crate::ecg::ECG,
    &crate::monitor::MONITOR,
    &crate::handler::HANDLER,
    &crate::retroboard::RETROBOARD,
];

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static dyn Profile> {
    PROFILES.iter().copied().find(|p| p.name() == name)
}

/// The names of every profile, for error messages (`nhem, ecg`).
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A profile's JSON documents, embedded at build time so binaries work from any directory.
#[derive(Debug)]
pub struct Documents {
    pub name: &'static str,
    /// `(file name, contents)` of every message schema and of the shared `common.json`.
    pub schemas: &'static [(&'static str, &'static str)],
    /// The OpenAPI document of the profile's HTTP API, if it has one.
    pub openapi: Option<&'static str>,
    /// The AsyncAPI document of the profile's WebSocket channels, if it has one.
    pub asyncapi: Option<&'static str>,
}

impl Documents {
    /// The names of the message schemas (file stems), without shared definition files.
    pub fn message_schemas(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.schemas
            .iter()
            .map(|(file, _)| file.trim_end_matches(".json"))
            .filter(|stem| *stem != "common")
    }

    /// The OpenAPI document with every schema file it references inlined under
    /// `components/schemas/<stem>`, so it stands alone when served over HTTP (a client cannot
    /// resolve `./data.json` against `/openapi.json`).
    pub fn bundled_openapi(&self) -> Option<serde_json::Value> {
        let mut root: Value = serde_json::from_str(self.openapi?).ok()?;
        let mut schemas = serde_json::Map::new();
        for (file, text) in self.schemas {
            let stem = file.trim_end_matches(".json");
            let mut schema: Value = serde_json::from_str(text).ok()?;
            rewrite_refs(&mut schema, Some(stem));
            schemas.insert(stem.to_owned(), schema);
        }
        rewrite_refs(&mut root, None);
        let components = root
            .as_object_mut()?
            .entry("components")
            .or_insert_with(|| Value::Object(Default::default()));
        let target = components
            .as_object_mut()?
            .entry("schemas")
            .or_insert_with(|| Value::Object(Default::default()));
        target.as_object_mut()?.extend(schemas);
        Some(root)
    }
}

/// Points file references (`./x.json#/a`, `x.json`) at `#/components/schemas/x/a`, and, inside
/// schema `inside`, its own `#/...` references at `#/components/schemas/<inside>/...`.
fn rewrite_refs(value: &mut Value, inside: Option<&str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => {
                        let (file, fragment) =
                            target.split_once('#').unwrap_or((target.as_str(), ""));
                        let file = file.trim_start_matches("./");
                        let stem = match file.strip_suffix(".json") {
                            Some(stem) => Some(stem),
                            None if file.is_empty() => inside,
                            None => None,
                        };
                        if let Some(stem) = stem {
                            *target = format!("#/components/schemas/{stem}{fragment}");
                        }
                    }
                    (_, child) => rewrite_refs(child, inside),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite_refs(item, inside)),
        _ => {}
    }
}

/// `&[(file, contents)]` of `schemas/<profile>/<file>.json`, embedded at build time.
#[macro_export]
macro_rules! embedded_schemas {
    ($profile:literal: $($file:literal),+ $(,)?) => {
        &[$(
            (
                concat!($file, ".json"),
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/", $profile, "/", $file, ".json")),
            ),
        )+]
    };
}

/// The text of `schemas/<profile>/<file>`, embedded at build time.
#[macro_export]
macro_rules! embedded_document {
    ($profile:literal, $file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schemas/",
            $profile,
            "/",
            $file
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_lists_a_schema_for_every_kind_and_nothing_else() {
        for profile in PROFILES {
            let stems: Vec<_> = profile.documents().message_schemas().collect();
            let kinds: Vec<_> = profile.kinds().iter().map(|k| k.name).collect();
            for kind in &kinds {
                assert!(
                    stems.contains(kind),
                    "{}: no schema for {kind}",
                    profile.name()
                );
            }
            assert_eq!(stems.len(), kinds.len(), "{}", profile.name());
            assert_eq!(profile.documents().name, profile.name());
            assert!(find(profile.name()).is_some());
        }
        assert!(find("nope").is_none());
    }

    #[test]
    fn names_are_unique_and_streams_name_known_kinds() {
        let mut names: Vec<_> = PROFILES.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROFILES.len());
        for profile in PROFILES {
            for stream in profile.streams() {
                assert!(
                    profile
                        .kinds()
                        .iter()
                        .any(|k| k.name == stream.kind
                            && k.direction == Some(Direction::ServerToClient)),
                    "{}: stream of unknown kind {}",
                    profile.name(),
                    stream.kind
                );
                assert!(stream.period > Duration::ZERO);
            }
            for field in profile.volatile_fields() {
                assert!(profile.kinds().iter().any(|k| k.name == field.kind));
            }
        }
    }

    #[test]
    fn bundled_openapi_has_no_external_references() {
        let bundled = crate::nhem::NHEM
            .documents()
            .bundled_openapi()
            .expect("NHEM has an OpenAPI document");
        let text = bundled.to_string();
        assert!(
            !text.contains(".json#"),
            "a file reference survived bundling"
        );
        let mut refs = Vec::new();
        collect_refs(&bundled, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external reference {r}"));
            assert!(bundled.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(s)) => out.push(s.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
