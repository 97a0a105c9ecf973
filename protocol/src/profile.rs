//! The profile registry: one entry per protocol, each with its embedded schemas.
//!
//! Adding a profile means adding `schemas/<name>/`, `fixtures/<name>/`, a message module in
//! this crate and one [`Profile`] entry in [`PROFILES`]; nothing else here changes.

/// One protocol: its name and the JSON documents of `schemas/<name>/`, embedded at build time
/// so binaries work from any directory.
#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    /// `(file name, contents)` of every message schema and of the shared `common.json`.
    pub schemas: &'static [(&'static str, &'static str)],
    /// The OpenAPI document of the profile's HTTP API, if it has one.
    pub openapi: Option<&'static str>,
    /// The AsyncAPI document of the profile's WebSocket channels, if it has one.
    pub asyncapi: Option<&'static str>,
}

impl Profile {
    /// The names of the message schemas (file stems), without shared definition files.
    pub fn message_schemas(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.schemas
            .iter()
            .map(|(file, _)| file.trim_end_matches(".json"))
            .filter(|stem| *stem != "common")
    }
}

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

pub static NHEM: Profile = Profile {
    name: "nhem",
    schemas: embedded_schemas!("nhem":
        "common", "auth", "ping", "get_status", "auth_response", "data", "status", "pong",
        "error", "health", "system_status", "realtime_data", "control_request",
        "control_response", "config", "config_set_request", "config_update", "roi",
        "roi_set_request", "roi_update",
    ),
    openapi: Some(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/nhem/openapi.json"
    ))),
    asyncapi: Some(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/nhem/asyncapi.json"
    ))),
};

/// Every profile this build knows.
pub static PROFILES: &[&Profile] = &[&NHEM];

pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhem_lists_a_schema_for_every_message_kind() {
        let stems: Vec<_> = NHEM.message_schemas().collect();
        for kind in crate::nhem::MessageKind::ALL {
            assert!(
                stems.contains(&kind.name()),
                "no schema for {}",
                kind.name()
            );
        }
        assert_eq!(stems.len(), crate::nhem::MessageKind::ALL.len());
        assert!(find("nhem").is_some());
        assert!(find("nope").is_none());
    }
}
