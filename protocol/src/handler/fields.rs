//! The member types the handler messages share, each with the rule it enforces.
//!
//! Every type here implements [`Check`]: serde checks presence and JSON types, `check` the
//! lengths and bounds the schemas' `common.json` states, so that the decoder names the same
//! rule as the schema.

use crate::codec::{check_items, check_len, check_range_u64, check_timestamp, MAX_SAFE_INTEGER};
use crate::error::ParseError;
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// What serde cannot check about a member: lengths, bounds, formats.
pub trait Check {
    fn check(&self, at: &Path) -> Result<(), ParseError>;
}

/// Members with nothing left to check once serde has read them.
macro_rules! unchecked {
    ($($ty:ty),*) => {$(
        impl Check for $ty {
            fn check(&self, _: &Path) -> Result<(), ParseError> {
                Ok(())
            }
        }
    )*};
}
unchecked!(bool, Value, Map<String, Value>, f64, String);

impl<T: Check> Check for Option<T> {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        match self {
            Some(value) => value.check(at),
            None => Ok(()),
        }
    }
}

impl Check for Timestamp {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(self, at)
    }
}

/// Declares a string newtype of bounded length.
macro_rules! bounded_string {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Check for $name {
            fn check(&self, at: &Path) -> Result<(), ParseError> {
                check_len(&self.0, $min, $max, at)
            }
        }
    };
}

bounded_string!(
    /// An id or a name: `requestId`, `streamId`, `topic`, `endpoint`, `method`, `clientId`
    /// (1–256 characters).
    Name,
    1,
    256
);
bounded_string!(
    /// A short label: `clientType`, `dataType`, `streamType`, `version` (1–64 characters).
    Label,
    1,
    64
);
bounded_string!(
    /// A human message (`error.message`, `auth_response.message`, …), at most 1,024 characters.
    Text,
    0,
    1024
);
bounded_string!(
    /// One entry of `handshake.capabilities` (1–128 characters).
    Capability,
    1,
    128
);
bounded_string!(
    /// A string member of a `sensor_data` reading (`sensor_id`, `location`): 1–256 characters.
    Reading,
    1,
    256
);

/// The `auth` token: at most 4,096 characters. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Check for Token {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        check_len(&self.0, 0, 4096, at)
    }
}

/// An `error.code`: upper snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeName(pub String);

impl Check for CodeName {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        let mut bytes = self.0.bytes();
        let well_formed = bytes.next().is_some_and(|b| b.is_ascii_uppercase())
            && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if well_formed {
            return Ok(());
        }
        Err(ParseError::invalid(
            at.rule(RuleKind::Format),
            "an error code is UPPER_SNAKE_CASE",
        ))
    }
}

/// A timestamp a client wrote: free-form, a string of at most 64 characters (the seed's Python
/// client sends naive `datetime.now().isoformat()`) or a number (the ESP32 sends `millis()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientTimestamp {
    Text(String),
    Number(serde_json::Number),
}

impl Check for ClientTimestamp {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        match self {
            ClientTimestamp::Text(text) => check_len(text, 0, 64, at),
            ClientTimestamp::Number(_) => Ok(()),
        }
    }
}

/// `data_response.insertId`: an auto-increment, 1 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InsertId(pub u64);

impl Check for InsertId {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        check_range_u64(self.0, 1, MAX_SAFE_INTEGER, at)
    }
}

/// A stream message's `sequenceNumber`: 0 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sequence(pub u64);

impl Check for Sequence {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        check_range_u64(self.0, 0, MAX_SAFE_INTEGER, at)
    }
}

impl<T: Check> Check for Vec<T> {
    fn check(&self, at: &Path) -> Result<(), ParseError> {
        check_items(self.len(), 0, 64, at)?;
        for (i, item) in self.iter().enumerate() {
            item.check(&at.index(i))?;
        }
        Ok(())
    }
}

/// `welcome.serverCapabilities`, as upstream sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerCapabilities {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_response: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub pub_sub: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub rpc: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub streaming: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub binary_data: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub compression: Option<bool>,
}
unchecked!(ServerCapabilities);

/// A required member: with `deserialize_with`, serde reports a missing member as missing even
/// for types that could be built from nothing (a missing `Value` would otherwise be `null`).
pub(crate) fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    T::deserialize(d)
}

/// An optional member that, when present, is not `null`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An optional member that may be `null` (`response.error`): absent is `None`, `null` is
/// `Some(None)`.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Declares a message struct from two lists: the required members and the optional ones (not
/// `null` when present), each with its wire name; `nullable` members may be `null`. Closed
/// (`deny_unknown_fields`) unless declared `open`, which keeps every other member in `extra`.
/// [`crate::codec::Validate`] runs [`Check`] on every member at its wire name.
macro_rules! message {
    (@struct [$($attrs:meta),*] $(#[$doc:meta])* $name:ident
        required { $($(#[$rdoc:meta])* $rfield:ident : $rty:ty = $rwire:literal),* $(,)? }
        optional { $($(#[$odoc:meta])* $ofield:ident : $oty:ty = $owire:literal),* $(,)? }
        nullable { $($(#[$ndoc:meta])* $nfield:ident : $nty:ty = $nwire:literal),* $(,)? }
        $($extra:tt)*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        $(#[$attrs])*
        pub struct $name {
            $(
                $(#[$rdoc])*
                #[serde(rename = $rwire, deserialize_with = "crate::handler::fields::required")]
                pub $rfield: $rty,
            )*
            $(
                $(#[$odoc])*
                #[serde(
                    rename = $owire,
                    default,
                    deserialize_with = "crate::handler::fields::present",
                    skip_serializing_if = "Option::is_none"
                )]
                pub $ofield: Option<$oty>,
            )*
            $(
                $(#[$ndoc])*
                #[serde(
                    rename = $nwire,
                    default,
                    deserialize_with = "crate::handler::fields::nullable",
                    skip_serializing_if = "Option::is_none"
                )]
                pub $nfield: Option<Option<$nty>>,
            )*
            $($extra)*
        }

        impl crate::codec::Validate for $name {
            fn validate(&self, at: &crate::rule::Path) -> Result<(), crate::error::ParseError> {
                use crate::handler::fields::Check;
                $(self.$rfield.check(&at.key($rwire))?;)*
                $(self.$ofield.check(&at.key($owire))?;)*
                $(self.$nfield.check(&at.key($nwire))?;)*
                Ok(())
            }
        }
    };
    ($(#[$doc:meta])* open $name:ident $($body:tt)*) => {
        message!(@open [] $(#[$doc])* $name $($body)*);
    };
    (@open [] $(#[$doc:meta])* $name:ident
        required { $($r:tt)* } optional { $($o:tt)* } nullable { $($n:tt)* }
    ) => {
        message!(@struct [] $(#[$doc])* $name
            required { $($r)* } optional { $($o)* } nullable { $($n)* }
            /// Every member the shape does not name (the message is open).
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        );
    };
    ($(#[$doc:meta])* $name:ident $($body:tt)*) => {
        message!(@struct [serde(deny_unknown_fields)] $(#[$doc])* $name $($body)*);
    };
}
pub(crate) use message;

/// Declares one direction's message enum, its kinds (schema stem and wire `type`), `kind`,
/// `wire_type`, `to_value`, `From` each type, and its decoder, from one table.
macro_rules! kind_table {
    ($(#[$doc:meta])* $enum:ident, $kinds:ident, $decode:ident, $side:literal;
     $($variant:ident($ty:ty) = $kind:literal as $wire:literal),* $(,)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $enum {
            $($variant($ty)),*
        }

        /// The kinds: the schema stem and the `type` on the wire.
        pub static $kinds: &[WireKind] = &[
            $(WireKind { kind: $kind, wire_type: $wire }),*
        ];

        impl $enum {
            /// The kind (schema stem) of this message.
            pub fn kind(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $kind),*
                }
            }

            /// The `type` it carries on the wire.
            pub fn wire_type(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $wire),*
                }
            }

            /// The message as it goes on the wire.
            pub fn to_value(&self) -> Value {
                let value = match self {
                    $($enum::$variant(m) => serde_json::to_value(m)),*
                };
                crate::handler::with_type(value, self.wire_type())
            }
        }

        $(
            impl From<$ty> for $enum {
                fn from(message: $ty) -> Self {
                    $enum::$variant(message)
                }
            }
        )*

        /// Decodes `value` as the kind `kind` of this direction (its `type` must be that
        /// kind's).
        pub fn $decode(kind: &str, value: Value) -> Result<$enum, ParseError> {
            let Some(info) = $kinds.iter().find(|k| k.kind == kind) else {
                return Err(ParseError::new(
                    ErrorCode::UnknownMessageType,
                    format!(concat!("the handler profile has no ", $side, " message {:?}"), kind),
                ));
            };
            let value = crate::handler::decode_kind(info, value)?;
            Ok(match kind {
                $($kind => $enum::$variant(crate::codec::decode_struct(value)?),)*
                _ => unreachable!("every kind has a variant"),
            })
        }
    };
}

pub(crate) use kind_table;
