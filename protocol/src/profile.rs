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

impl Profile {
    /// The OpenAPI document with every schema file it references inlined under
    /// `components/schemas/<stem>`, so it stands alone when served over HTTP (a client cannot
    /// resolve `./data.json` against `/openapi.json`).
    pub fn bundled_openapi(&self) -> Option<serde_json::Value> {
        use serde_json::Value;
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
fn rewrite_refs(value: &mut serde_json::Value, inside: Option<&str>) {
    use serde_json::Value;
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

    #[test]
    fn bundled_openapi_has_no_external_references() {
        let bundled = NHEM
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

    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
