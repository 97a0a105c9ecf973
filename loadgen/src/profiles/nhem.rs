//! NHEM: an `auth` first, then the 60 FPS broadcast numbered by `frame_count`.

use super::LoadProfile;
use protocol::Profile;

pub struct NhemLoad;

impl LoadProfile for NhemLoad {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::nhem::NHEM
    }
    fn default_ws(&self) -> &'static str {
        "ws://127.0.0.1:30415/"
    }
    fn connect_url(&self, ws: &str, _: &str) -> String {
        ws.to_owned()
    }
    fn hello(&self, secret: &str) -> Vec<String> {
        vec![serde_json::json!({"type": "auth", "password": secret}).to_string()]
    }
    fn ready_type(&self) -> Option<&'static str> {
        Some("auth_response")
    }
    fn stream_type(&self) -> Option<&'static str> {
        Some("data")
    }
    fn has_polling(&self) -> bool {
        true
    }
}
