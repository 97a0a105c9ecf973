//! The board's state and every change a command makes to it, without sockets: each change
//! returns the events to broadcast, in order, so the server only has to send them.

use protocol::retroboard::{
    CarouselConfig, CarouselEntry, CarouselRequest, Configured, CurrentApp, Settings,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// One event to send: its name and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: &'static str,
    pub payload: Value,
}

/// Why a command was refused; the REST layer maps each to a status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    #[error("there is no app {app:?}; the apps are {known}")]
    UnknownApp { app: String, known: String },
    #[error("the carousel has no apps to rotate; give `apps` with at least one entry")]
    EmptyCarousel,
}

/// Everything the server knows: the fixed app set, the current app, each app's config, the
/// brightness and the carousel.
#[derive(Debug, Clone)]
pub struct Board {
    apps: Vec<String>,
    current: String,
    configs: BTreeMap<String, Map<String, Value>>,
    brightness: u64,
    carousel: CarouselConfig,
}

impl Board {
    /// The initial state of PROFILES.md §4 for the app set `apps` (not empty): the first app
    /// current, `clock` configured as in the seed, brightness 100, the carousel (off, unless
    /// `carousel_enabled`) over clock 10 s and scroll_text 15 s where the set has them.
    pub fn new(apps: Vec<String>, carousel_enabled: bool) -> Board {
        let current = apps.first().cloned().unwrap_or_default();
        let mut configs: BTreeMap<String, Map<String, Value>> =
            apps.iter().map(|a| (a.clone(), Map::new())).collect();
        if let Some(clock) = configs.get_mut("clock") {
            clock.insert("font".into(), json!("tom-thumb"));
            clock.insert("color".into(), json!([255, 0, 0]));
        }
        let entries = [("clock", 10), ("scroll_text", 15)]
            .into_iter()
            .filter(|(app, _)| apps.iter().any(|a| a == app))
            .map(|(app, duration)| CarouselEntry {
                app: app.into(),
                duration,
            })
            .collect::<Vec<_>>();
        let mut board = Board {
            apps,
            current,
            configs,
            brightness: 100,
            carousel: CarouselConfig {
                enabled: false,
                apps: entries,
                current_index: 0,
            },
        };
        if carousel_enabled && !board.carousel.apps.is_empty() {
            board.carousel.enabled = true;
            board.current = board.carousel.apps[0].app.clone();
        }
        board
    }

    /// The four state events, in the order a client gets them on connect and `request_state`.
    pub fn state(&self) -> [Event; 4] {
        [
            self.apps_list(),
            self.current_app(),
            self.settings(),
            self.carousel_config(),
        ]
    }

    pub fn current(&self) -> CurrentApp {
        CurrentApp {
            app: self.current.clone(),
            config: Value::Object(self.configs.get(&self.current).cloned().unwrap_or_default()),
        }
    }

    pub fn carousel(&self) -> &CarouselConfig {
        &self.carousel
    }

    pub fn brightness(&self) -> u64 {
        self.brightness
    }

    fn apps_list(&self) -> Event {
        event(
            "apps_list",
            json!({"apps": self.apps, "current": self.current}),
        )
    }

    fn current_app(&self) -> Event {
        event("current_app", to_value(&self.current()))
    }

    fn settings(&self) -> Event {
        event(
            "settings",
            to_value(&Settings {
                brightness: self.brightness,
            }),
        )
    }

    fn carousel_config(&self) -> Event {
        event("carousel_config", to_value(&self.carousel))
    }

    fn known(&self, app: &str) -> Result<(), BoardError> {
        if self.apps.iter().any(|a| a == app) {
            return Ok(());
        }
        Err(BoardError::UnknownApp {
            app: app.chars().take(64).collect(),
            known: self.apps.join(", "),
        })
    }

    /// `POST /api/switch`: `current_app` is broadcast even when `app` was already current.
    pub fn switch(&mut self, app: &str) -> Result<Vec<Event>, BoardError> {
        self.known(app)?;
        self.current = app.to_owned();
        Ok(vec![self.current_app()])
    }

    /// `POST /api/config`: a shallow merge into `app`'s config (the current app's by default);
    /// `current_app` is broadcast when that app is current.
    pub fn configure(
        &mut self,
        app: Option<&str>,
        config: Map<String, Value>,
    ) -> Result<(Configured, Vec<Event>), BoardError> {
        let app = app.unwrap_or(&self.current).to_owned();
        self.known(&app)?;
        let merged = self.configs.entry(app.clone()).or_default();
        merged.extend(config);
        let answer = Configured {
            app: app.clone(),
            config: merged.clone(),
        };
        let events = if app == self.current {
            vec![self.current_app()]
        } else {
            Vec::new()
        };
        Ok((answer, events))
    }

    /// `POST /api/settings`.
    pub fn set_brightness(&mut self, brightness: u64) -> Vec<Event> {
        self.brightness = brightness;
        vec![self.settings()]
    }

    /// `POST /api/carousel`: a new list resets the index to 0; a carousel that is on after the
    /// change and got a new list or was just enabled shows `apps[0]`. `carousel_config` is
    /// broadcast, then `current_app` if the app changed.
    pub fn set_carousel(&mut self, request: CarouselRequest) -> Result<Vec<Event>, BoardError> {
        if let Some(apps) = &request.apps {
            for entry in apps {
                self.known(&entry.app)?;
            }
        }
        let enabled = request.enabled.unwrap_or(self.carousel.enabled);
        let apps = request.apps.as_ref().unwrap_or(&self.carousel.apps);
        if enabled && apps.is_empty() {
            return Err(BoardError::EmptyCarousel);
        }
        let restart = enabled && (!self.carousel.enabled || request.apps.is_some());
        if let Some(apps) = request.apps {
            self.carousel.apps = apps;
            self.carousel.current_index = 0;
        }
        self.carousel.enabled = enabled;
        let mut events = vec![];
        let mut switched = false;
        if restart {
            let index = self.carousel.current_index as usize;
            let first = self.carousel.apps[index].app.clone();
            switched = first != self.current;
            self.current = first;
        }
        events.push(self.carousel_config());
        if switched {
            events.push(self.current_app());
        }
        Ok(events)
    }

    /// How long the current carousel entry shows, when the carousel rotates.
    pub fn dwell(&self) -> Option<Duration> {
        let entry = self
            .carousel
            .apps
            .get(self.carousel.current_index as usize)?;
        self.carousel
            .enabled
            .then(|| Duration::from_secs(entry.duration))
    }

    /// One rotation: the index advances (mod the list), the app switches, and `current_app`
    /// and `carousel_config` are broadcast. Nothing when the carousel is off.
    pub fn rotate(&mut self) -> Vec<Event> {
        if !self.carousel.enabled || self.carousel.apps.is_empty() {
            return Vec::new();
        }
        let next = (self.carousel.current_index as usize + 1) % self.carousel.apps.len();
        self.carousel.current_index = next as u64;
        self.current = self.carousel.apps[next].app.clone();
        vec![self.current_app(), self.carousel_config()]
    }
}

fn event(name: &'static str, payload: Value) -> Event {
    Event { name, payload }
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("state payloads serialize to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Board {
        Board::new(
            ["clock", "scroll_text", "stars"].map(String::from).to_vec(),
            false,
        )
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name).collect()
    }

    #[test]
    fn the_initial_state_is_the_decided_one() {
        let state = board().state();
        assert_eq!(
            names(&state),
            ["apps_list", "current_app", "settings", "carousel_config"]
        );
        assert_eq!(
            state[0].payload,
            json!({"apps": ["clock", "scroll_text", "stars"], "current": "clock"})
        );
        assert_eq!(
            state[1].payload,
            json!({"app": "clock", "config": {"font": "tom-thumb", "color": [255, 0, 0]}})
        );
        assert_eq!(state[2].payload, json!({"brightness": 100}));
        assert_eq!(
            state[3].payload,
            json!({"enabled": false, "apps": [{"app": "clock", "duration": 10}, {"app": "scroll_text", "duration": 15}], "current_index": 0})
        );
    }

    #[test]
    fn switch_broadcasts_even_the_current_app_and_refuses_unknown_ones() {
        let mut b = board();
        assert_eq!(b.switch("clock").expect("known")[0].payload["app"], "clock");
        assert_eq!(
            b.switch("stars").expect("known")[0].payload,
            json!({"app": "stars", "config": {}})
        );
        assert!(matches!(
            b.switch("nope"),
            Err(BoardError::UnknownApp { .. })
        ));
        assert_eq!(b.current().app, "stars");
    }

    #[test]
    fn config_merges_shallowly_and_broadcasts_only_for_the_current_app() {
        let mut b = board();
        let patch = |v: Value| v.as_object().cloned().expect("object");
        let (answer, events) = b
            .configure(None, patch(json!({"color": [0, 0, 255], "_seq": 7})))
            .expect("known");
        assert_eq!(
            answer.config,
            patch(json!({"font": "tom-thumb", "color": [0, 0, 255], "_seq": 7}))
        );
        assert_eq!(events[0].payload["config"]["_seq"], 7);
        let (_, events) = b
            .configure(Some("stars"), patch(json!({"n": 3})))
            .expect("known");
        assert!(events.is_empty());
        assert!(b.configure(Some("nope"), Map::new()).is_err());
    }

    #[test]
    fn enabling_the_carousel_switches_to_its_first_app_and_rotation_advances() {
        let mut b = board();
        b.switch("stars").expect("known");
        let events = b
            .set_carousel(CarouselRequest {
                enabled: Some(true),
                apps: None,
            })
            .expect("valid");
        assert_eq!(names(&events), ["carousel_config", "current_app"]);
        assert_eq!(b.current().app, "clock");
        assert_eq!(b.dwell(), Some(Duration::from_secs(10)));
        let events = b.rotate();
        assert_eq!(names(&events), ["current_app", "carousel_config"]);
        assert_eq!(b.current().app, "scroll_text");
        assert_eq!(b.carousel().current_index, 1);
        b.rotate();
        assert_eq!(
            (b.current().app, b.carousel().current_index),
            ("clock".into(), 0)
        );
    }

    #[test]
    fn a_new_list_resets_the_index_and_an_empty_carousel_cannot_run() {
        let mut b = board();
        b.set_carousel(CarouselRequest {
            enabled: Some(true),
            apps: None,
        })
        .expect("valid");
        b.rotate();
        let list = vec![CarouselEntry {
            app: "stars".into(),
            duration: 3,
        }];
        let events = b
            .set_carousel(CarouselRequest {
                enabled: None,
                apps: Some(list),
            })
            .expect("valid");
        assert_eq!(names(&events), ["carousel_config", "current_app"]);
        assert_eq!(b.carousel().current_index, 0);
        assert_eq!(b.current().app, "stars");
        assert_eq!(
            b.set_carousel(CarouselRequest {
                enabled: None,
                apps: Some(vec![])
            }),
            Err(BoardError::EmptyCarousel)
        );
        let off = b
            .set_carousel(CarouselRequest {
                enabled: Some(false),
                apps: None,
            })
            .expect("valid");
        assert_eq!(names(&off), ["carousel_config"]);
        assert!(b.rotate().is_empty() && b.dwell().is_none());
    }
}
