//! Named rules: what a message breaks, in the same words for JSON Schema and for Rust.
//!
//! A rule is written `<kind>:<path>`, where `path` is the JSON Pointer of the offending value
//! without its leading `/` (see `docs/protocol-nhem.md`). Fixtures name the rule they break, and
//! both the schema validator and the Rust parser must report that same rule.

use std::fmt;

/// The class of a broken rule; one per family of JSON Schema keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// A required member is missing (`required`).
    Required,
    /// A value has the wrong JSON type (`type`).
    Type,
    /// A value is not one of the allowed constants (`enum`, `const`).
    Enum,
    /// A number lies outside its bounds (`minimum`, `maximum`, exclusive bounds).
    Range,
    /// A string or array is too short or too long (`minLength`, `maxItems`, …).
    Length,
    /// A string does not have the required format (`format`, `pattern`).
    Format,
    /// An object has a member it must not have (`additionalProperties: false`).
    Additional,
    /// A configuration key that could be used for code injection.
    DangerousKey,
    /// A rule the JSON Schema cannot express (e.g. `x1 < x2`); only Rust reports it.
    Semantic,
    /// A schema keyword this table does not name (should not happen with our schemas).
    Other,
}

impl RuleKind {
    /// The stable name used in fixtures and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Required => "required",
            RuleKind::Type => "type",
            RuleKind::Enum => "enum",
            RuleKind::Range => "range",
            RuleKind::Length => "length",
            RuleKind::Format => "format",
            RuleKind::Additional => "additional",
            RuleKind::DangerousKey => "dangerous_key",
            RuleKind::Semantic => "semantic",
            RuleKind::Other => "other",
        }
    }
}

/// One broken rule at one place in a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    pub kind: RuleKind,
    /// JSON Pointer of the offending value, without the leading `/`; empty for the root.
    pub path: String,
}

impl Rule {
    pub fn new(kind: RuleKind, path: impl Into<String>) -> Self {
        Rule {
            kind,
            path: path.into(),
        }
    }

    /// The JSON Pointer (with its leading `/`, or empty for the root) of the offending value.
    pub fn pointer(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!("/{}", self.path)
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.path)
    }
}

/// Builds JSON Pointer paths (without the leading `/`) for rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root() -> Self {
        Path(String::new())
    }

    /// The path of member `name` below this one (escaped as RFC 6901 requires).
    pub fn key(&self, name: &str) -> Path {
        let escaped = name.replace('~', "~0").replace('/', "~1");
        if self.0.is_empty() {
            Path(escaped)
        } else {
            Path(format!("{}/{escaped}", self.0))
        }
    }

    /// The path of item `index` below this one.
    pub fn index(&self, index: usize) -> Path {
        self.key(&index.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn rule(&self, kind: RuleKind) -> Rule {
        Rule::new(kind, self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_like_json_pointer() {
        let p = Path::root().key("a/b").index(3).key("c~d");
        assert_eq!(p.as_str(), "a~1b/3/c~0d");
        assert_eq!(p.rule(RuleKind::Range).to_string(), "range:a~1b/3/c~0d");
        assert_eq!(p.rule(RuleKind::Range).pointer(), "/a~1b/3/c~0d");
        assert_eq!(Path::root().rule(RuleKind::Type).pointer(), "");
    }
}
