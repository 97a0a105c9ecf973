//! What a connection has subscribed to, and whether an event reaches it (`PROFILES.md` §2,
//! "Subscribe semantics" and "Further decisions").
//!
//! - An event name is a family (`alert`) or `family.sub` (`alert.cpu`). The subkey of a message
//!   is `data.type` for alerts, `data.component` for status, `system` or the custom
//!   `metric_name` for performance, `data.action` for config and `data.event` for system.
//! - Every family starts in *default* mode and delivers everything. Subscribing to any event of
//!   a family makes it *explicit*: only matching entries are delivered.
//! - Filters belong to the events of their message: each key is a member of `data`, each value
//!   the allowed values (a scalar is a one-element list); every key must be present and equal
//!   one of them. Subscribing to the same event again replaces its filters.
//! - Unsubscribing removes entries; a bare family removes all of its entries, which mutes it;
//!   nothing returns a family to default. Unsubscribing what was never subscribed is a no-op.

use serde_json::{Map, Value};
use std::fmt;

/// The five event families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Performance,
    Alert,
    Status,
    Config,
    System,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Performance,
        Family::Alert,
        Family::Status,
        Family::Config,
        Family::System,
    ];

    /// The family's name, which is also its messages' `type`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Performance => "performance",
            Family::Alert => "alert",
            Family::Status => "status",
            Family::Config => "config",
            Family::System => "system",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The subkey of a message of this family, from its `data`.
    pub fn subkey(self, data: &Value) -> Option<&str> {
        let member = |name: &str| data.get(name).and_then(Value::as_str);
        match self {
            Family::Performance => Some(member("metric_name").unwrap_or("system")),
            Family::Alert => member("type"),
            Family::Status => member("component"),
            Family::Config => member("action"),
            Family::System => member("event"),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A well-formed event name whose family exists: `alert` or `alert.cpu`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName {
    pub family: Family,
    /// `None` for the whole family. An unknown subkey (`alert.gpu`) is kept: it never matches.
    pub sub: Option<String>,
}

impl EventName {
    /// `None` unless `name` is `family` or `family.sub` with a known family.
    pub fn parse(name: &str) -> Option<EventName> {
        let (family, sub) = match name.split_once('.') {
            Some((family, sub)) => (family, Some(sub.to_owned())),
            None => (name, None),
        };
        Some(EventName {
            family: Family::from_name(family)?,
            sub,
        })
    }
}

/// Allowed values per `data` member; a message matches when every member is present and
/// equals one of its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(Vec<(String, Vec<Value>)>);

impl Filters {
    /// From a subscribe message's `filters` object (a scalar counts as a one-element list).
    pub fn from_object(filters: &Map<String, Value>) -> Filters {
        Filters(
            filters
                .iter()
                .map(|(key, allowed)| {
                    let allowed = match allowed {
                        Value::Array(values) => values.clone(),
                        scalar => vec![scalar.clone()],
                    };
                    (key.clone(), allowed)
                })
                .collect(),
        )
    }

    pub fn matches(&self, data: &Value) -> bool {
        self.0.iter().all(|(key, allowed)| {
            data.get(key)
                .is_some_and(|value| allowed.iter().any(|a| same_value(a, value)))
        })
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Default,
    /// `(subkey or whole family, filters)`, one entry per event name.
    Explicit(Vec<(Option<String>, Filters)>),
}

/// One connection's subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriptions {
    modes: [Mode; 5],
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            modes: std::array::from_fn(|_| Mode::Default),
        }
    }
}

impl Subscriptions {
    fn mode(&mut self, family: Family) -> &mut Mode {
        &mut self.modes[family as usize]
    }

    /// Adds `events` with `filters`, replacing the filters of events subscribed before.
    pub fn subscribe(&mut self, events: &[EventName], filters: &Filters) {
        for event in events {
            let mode = self.mode(event.family);
            if *mode == Mode::Default {
                *mode = Mode::Explicit(Vec::new());
            }
            let Mode::Explicit(entries) = mode else {
                unreachable!("made explicit above")
            };
            match entries.iter_mut().find(|(sub, _)| *sub == event.sub) {
                Some(entry) => entry.1 = filters.clone(),
                None => entries.push((event.sub.clone(), filters.clone())),
            }
        }
    }

    /// Removes `events`; a bare family removes every entry of that family (muting it).
    pub fn unsubscribe(&mut self, events: &[EventName]) {
        for event in events {
            if let Mode::Explicit(entries) = self.mode(event.family) {
                match &event.sub {
                    None => entries.clear(),
                    Some(sub) => entries.retain(|(s, _)| s.as_deref() != Some(sub.as_str())),
                }
            }
        }
    }

    /// Whether a message of `family` with `data` reaches this connection.
    pub fn delivers(&self, family: Family, data: &Value) -> bool {
        match &self.modes[family as usize] {
            Mode::Default => true,
            Mode::Explicit(entries) => {
                let subkey = family.subkey(data);
                entries.iter().any(|(sub, filters)| {
                    sub.as_deref().is_none_or(|s| Some(s) == subkey) && filters.matches(data)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(names: &[&str]) -> Vec<EventName> {
        names
            .iter()
            .map(|n| EventName::parse(n).expect("known family"))
            .collect()
    }

    fn filters(value: Value) -> Filters {
        Filters::from_object(value.as_object().expect("object"))
    }

    fn cpu(level: &str) -> Value {
        json!({"alert_id": "a1", "type": "cpu", "level": level, "status": "active"})
    }

    #[test]
    fn event_names_need_a_known_family() {
        let name = EventName::parse("alert.cpu").expect("parses");
        assert_eq!(
            (name.family, name.sub.as_deref()),
            (Family::Alert, Some("cpu"))
        );
        assert_eq!(EventName::parse("performance").map(|e| e.sub), Some(None));
        assert_eq!(EventName::parse("metrics.cpu"), None);
    }

    #[test]
    fn the_seed_example_filters_alerts_and_keeps_performance() {
        let mut subs = Subscriptions::default();
        assert!(subs.delivers(Family::Alert, &cpu("info")), "default mode");
        subs.subscribe(
            &events(&["alert.cpu", "alert.memory"]),
            &filters(json!({"level": ["warning", "critical"]})),
        );
        assert!(subs.delivers(Family::Alert, &cpu("critical")));
        assert!(!subs.delivers(Family::Alert, &cpu("info")));
        let disk = json!({"type": "disk", "level": "critical"});
        assert!(!subs.delivers(Family::Alert, &disk), "not subscribed");
        let perf = json!({"cpu_percent": 12.0});
        assert!(
            subs.delivers(Family::Performance, &perf),
            "families never named stay default"
        );
    }

    #[test]
    fn resubscribing_replaces_filters_and_unsubscribing_mutes() {
        let mut subs = Subscriptions::default();
        subs.subscribe(
            &events(&["alert.cpu"]),
            &filters(json!({"level": "critical"})),
        );
        assert!(!subs.delivers(Family::Alert, &cpu("warning")));
        subs.subscribe(&events(&["alert.cpu"]), &filters(json!({})));
        assert!(
            subs.delivers(Family::Alert, &cpu("warning")),
            "filters replaced"
        );
        subs.unsubscribe(&events(&["alert.cpu"]));
        assert!(
            !subs.delivers(Family::Alert, &cpu("warning")),
            "explicit and empty: muted"
        );
        subs.unsubscribe(&events(&["status"]));
        let status = json!({"component": "clipboard_monitor", "status": "running"});
        assert!(
            subs.delivers(Family::Status, &status),
            "no-op in default mode"
        );
    }

    #[test]
    fn a_bare_family_unsubscribe_clears_every_entry() {
        let mut subs = Subscriptions::default();
        subs.subscribe(&events(&["alert.cpu", "alert.memory"]), &Filters::default());
        subs.unsubscribe(&events(&["alert"]));
        let memory = json!({"type": "memory", "level": "warning"});
        assert!(!subs.delivers(Family::Alert, &memory));
        subs.subscribe(&events(&["alert"]), &Filters::default());
        assert!(
            subs.delivers(Family::Alert, &memory),
            "the whole family again"
        );
    }

    #[test]
    fn subkeys_and_filter_values_follow_the_decisions() {
        let mut subs = Subscriptions::default();
        subs.subscribe(&events(&["performance.system"]), &Filters::default());
        assert!(subs.delivers(Family::Performance, &json!({"cpu_percent": 1.0})));
        let custom = json!({"metric_name": "api_response_time", "value": 150});
        assert!(!subs.delivers(Family::Performance, &custom));
        subs.subscribe(
            &events(&["performance.api_response_time"]),
            &filters(json!({"value": [150.0]})),
        );
        assert!(
            subs.delivers(Family::Performance, &custom),
            "150 equals 150.0"
        );
        let other = json!({"metric_name": "api_response_time", "value": 151});
        assert!(!subs.delivers(Family::Performance, &other));
        let mut subs = Subscriptions::default();
        subs.subscribe(&events(&["alert.gpu"]), &Filters::default());
        assert!(
            !subs.delivers(Family::Alert, &cpu("critical")),
            "unknown subkey never matches"
        );
        subs.subscribe(
            &events(&["alert"]),
            &filters(json!({"resolution": "escalated"})),
        );
        assert!(
            !subs.delivers(Family::Alert, &cpu("critical")),
            "a missing member does not match"
        );
    }
}
