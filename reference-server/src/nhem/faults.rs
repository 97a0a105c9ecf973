//! Deliberate protocol violations, switched on with `--fault` (hidden from `--help`).
//!
//! They exist so the conformance suite can prove it catches what it claims to catch: each
//! fault breaks exactly one rule, and the suite's self-test asserts that exactly the expected
//! case fails. They are never on unless asked for.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Fault {
    /// `data.frame_count` is sent as a string.
    WrongFieldType,
    /// `data.baseline` is left out.
    MissingField,
    /// Frames are produced at half the advertised rate.
    WrongRate,
    /// Every 30th frame is followed by a stale copy of an older frame.
    NonMonotonic,
    /// Any password is accepted.
    AcceptWrongPassword,
    /// Invalid JSON gets no `error` reply.
    NoErrorOnBadJson,
    /// A failed `auth` is answered but the connection is not closed.
    NoCloseAfterFailedAuth,
    /// A control command changes the state but no `status` is broadcast.
    SilentControl,
    /// Bad input after auth gets `MALFORMED_INPUT`, a well-formed code of the server's own,
    /// instead of the profile's (not a violation: the suite says non-strict, not fail).
    OwnErrorCodes,
}

/// Rewrites a serialized `data` frame for the frame-shape faults; `None` leaves it alone.
pub fn mutate_frame(faults: &[Fault], json: &str) -> Option<String> {
    let wrong_type = faults.contains(&Fault::WrongFieldType);
    let missing = faults.contains(&Fault::MissingField);
    if !wrong_type && !missing {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    let object = value.as_object_mut()?;
    if wrong_type {
        let count = object.get("frame_count")?.to_string();
        object.insert("frame_count".into(), serde_json::Value::String(count));
    }
    if missing {
        object.remove("baseline");
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_faults_change_only_their_field() {
        let frame = r#"{"type":"data","frame_count":7,"baseline":1.0}"#;
        assert_eq!(mutate_frame(&[], frame), None);
        let typed = mutate_frame(&[Fault::WrongFieldType], frame).expect("mutated");
        assert!(typed.contains(r#""frame_count":"7""#), "{typed}");
        let missing = mutate_frame(&[Fault::MissingField], frame).expect("mutated");
        assert!(
            !missing.contains("baseline") && missing.contains(r#""frame_count":7"#),
            "{missing}"
        );
    }
}
