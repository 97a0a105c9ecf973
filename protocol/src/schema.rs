//! A profile's JSON Schemas, compiled once, and their violations as named [`Rule`]s.

use crate::profile::Profile;

use crate::rule::{Path, Rule, RuleKind};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Resource, ValidationError, Validator};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a profile's schemas could not be loaded (a build-time bug, reported, not panicked on).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema {file} is not valid JSON: {source}")]
    Json {
        file: &'static str,
        source: serde_json::Error,
    },
    #[error("schema {file} does not compile: {message}")]
    Compile { file: &'static str, message: String },
}

/// One way an instance breaks a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule, in the words fixtures use (`required:baseline`).
    pub rule: Rule,
    /// The JSON Schema keyword that failed (`required`, `maximum`, …).
    pub keyword: String,
    /// Where in the schema the keyword sits (JSON Pointer).
    pub schema_path: String,
    /// The validator's own description, including the offending value.
    pub message: String,
}

/// The compiled message schemas of one profile, by name (`data`, `auth`, …).
pub struct SchemaSet {
    profile: &'static str,
    validators: BTreeMap<&'static str, Validator>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet")
            .field("profile", &self.profile)
            .field("schemas", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The URI each schema file is known by, so relative `$ref`s such as `common.json#/$defs/x`
/// resolve between embedded files without touching the file system or the network.
fn schema_uri(profile: &str, file: &str) -> String {
    format!("file:///schemas/{profile}/{file}")
}

impl SchemaSet {
    /// Compiles every message schema of `profile`.
    pub fn load(profile: &dyn Profile) -> Result<SchemaSet, SchemaError> {
        let name = profile.name();
        let schemas = profile.documents().schemas;
        let mut documents = Vec::with_capacity(schemas.len());
        for &(file, text) in schemas {
            let json: Value =
                serde_json::from_str(text).map_err(|source| SchemaError::Json { file, source })?;
            documents.push((file, json));
        }
        let mut validators = BTreeMap::new();
        for (file, schema) in &documents {
            let stem = file.trim_end_matches(".json");
            if stem == "common" {
                continue;
            }
            let resources =
                documents
                    .iter()
                    .filter(|(other, _)| other != file)
                    .map(|(other, json)| {
                        (
                            schema_uri(name, other),
                            Resource::from_contents(json.clone()),
                        )
                    });
            let validator = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .should_validate_formats(true)
                .with_base_uri(schema_uri(name, file))
                .with_resources(resources)
                .build(schema)
                .map_err(|e| SchemaError::Compile {
                    file,
                    message: e.to_string(),
                })?;
            validators.insert(stem, validator);
        }
        Ok(SchemaSet {
            profile: name,
            validators,
        })
    }

    pub fn profile(&self) -> &'static str {
        self.profile
    }

    /// Names of the message schemas in this set.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.validators.keys().copied()
    }

    pub fn has(&self, name: &str) -> bool {
        self.validators.contains_key(name)
    }

    /// Every violation of schema `name` by `instance` (empty when valid); `None` when there
    /// is no such schema.
    pub fn violations(&self, name: &str, instance: &Value) -> Option<Vec<Violation>> {
        let validator = self.validators.get(name)?;
        Some(
            validator
                .iter_errors(instance)
                .flat_map(|e| to_violations(&e))
                .collect(),
        )
    }

    pub fn is_valid(&self, name: &str, instance: &Value) -> bool {
        self.validators
            .get(name)
            .is_some_and(|v| v.is_valid(instance))
    }
}

fn path_of(location: &jsonschema::paths::Location) -> Path {
    // Locations are JSON Pointers; our paths are the same text without the leading '/'.
    let text = location.as_str();
    let mut path = Path::root();
    for segment in text.split('/').skip(1) {
        let unescaped = segment.replace("~1", "/").replace("~0", "~");
        path = path.key(&unescaped);
    }
    path
}

fn to_violations(error: &ValidationError<'_>) -> Vec<Violation> {
    let at = path_of(error.instance_path());
    let schema_path = error.schema_path().as_str().to_owned();
    let message = error.to_string();
    // The keyword is the last step of the schema path (`/properties/x/maximum` → `maximum`).
    let keyword = schema_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let one = |kind: RuleKind, path: Path| Violation {
        rule: path.rule(kind),
        keyword: keyword.clone(),
        schema_path: schema_path.clone(),
        message: message.clone(),
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| property.to_string());
            vec![one(RuleKind::Required, at.key(&name))]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| one(RuleKind::Additional, at.key(name)))
            .collect(),
        ValidationErrorKind::PropertyNames { error: inner } => {
            let name = inner
                .instance()
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default();
            vec![one(RuleKind::DangerousKey, at.key(&name))]
        }
        kind => {
            let rule_kind = match kind {
                ValidationErrorKind::Type { .. } => RuleKind::Type,
                ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
                    RuleKind::Enum
                }
                ValidationErrorKind::Minimum { .. }
                | ValidationErrorKind::Maximum { .. }
                | ValidationErrorKind::ExclusiveMinimum { .. }
                | ValidationErrorKind::ExclusiveMaximum { .. } => RuleKind::Range,
                ValidationErrorKind::MinLength { .. }
                | ValidationErrorKind::MaxLength { .. }
                | ValidationErrorKind::MinItems { .. }
                | ValidationErrorKind::MaxItems { .. }
                | ValidationErrorKind::MinProperties { .. }
                | ValidationErrorKind::MaxProperties { .. } => RuleKind::Length,
                ValidationErrorKind::Format { .. } | ValidationErrorKind::Pattern { .. } => {
                    RuleKind::Format
                }
                ValidationErrorKind::Not { .. } => RuleKind::DangerousKey,
                _ => RuleKind::Other,
            };
            vec![one(rule_kind, at)]
        }
    }
}
