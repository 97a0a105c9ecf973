//! ECG: the token in the query, no first message, frames numbered by timestamp steps.

use super::LoadProfile;
use protocol::Profile;

pub struct EcgLoad;

impl LoadProfile for EcgLoad {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::ecg::ECG
    }
    fn default_ws(&self) -> &'static str {
        "ws://127.0.0.1:5000"
    }
    fn connect_url(&self, ws: &str, secret: &str) -> String {
        let base = ws.trim_end_matches('/');
        let base = base
            .strip_suffix(protocol::ecg::STREAM_PATH)
            .unwrap_or(base);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair(protocol::ecg::TOKEN_PARAM, secret)
            .finish();
        format!("{base}{}?{query}", protocol::ecg::STREAM_PATH)
    }
    fn hello(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn stream_type(&self) -> Option<&'static str> {
        None
    }
}
