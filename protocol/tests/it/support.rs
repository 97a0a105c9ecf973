//! Shared helpers: the compiled NHEM schemas and JSON comparison that treats `120` and
//! `120.0` as the same number (JSON does; `serde_json::Value` equality does not).

use protocol::schema::SchemaSet;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::LazyLock;

pub static NHEM_SCHEMAS: LazyLock<SchemaSet> =
    LazyLock::new(|| SchemaSet::load(&protocol::nhem::NHEM).expect("NHEM schemas compile"));

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the protocol crate sits in the repository root")
        .to_path_buf()
}

/// JSON equality in which numbers compare by value.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
