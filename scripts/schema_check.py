#!/usr/bin/env python3
"""Check JSON Schemas of a profile, and fixtures against them, with Python `jsonschema`.

An independent second opinion beside the Rust validator (docs/protocol-nhem.md).

    schema_check.py schemas DIR          every DIR/*.json message schema is a valid draft 2020-12
                                         schema and every $ref in it resolves
    schema_check.py fixtures SCHEMAS FIX valid/<type>/*.json pass SCHEMAS/<type>.json with no error;
                                         invalid/<type>/*.json ({"rule", "message"}) fail with exactly
                                         the rule they name, written <kind>:<path>

Formats are asserted (FormatChecker). Needs jsonschema with rfc3339-validator, as installed in
.tools/venv by scripts/check-api-docs. Exit code: 0 all good, 1 a check failed, 2 usage error.
"""
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# Documents that are not message schemas.
NOT_SCHEMAS = {"openapi.json", "asyncapi.json"}

KIND_BY_KEYWORD = {
    "type": "type",
    "enum": "enum",
    "const": "enum",
    "minimum": "range",
    "maximum": "range",
    "exclusiveMinimum": "range",
    "exclusiveMaximum": "range",
    "minLength": "length",
    "maxLength": "length",
    "minItems": "length",
    "maxItems": "length",
    "minProperties": "length",
    "maxProperties": "length",
    "format": "format",
    "pattern": "format",
    "not": "dangerous_key",
}


def schema_files(schema_dir):
    return sorted(p for p in Path(schema_dir).glob("*.json") if p.name not in NOT_SCHEMAS)


def load_registry(schema_dir):
    """Every schema file under its own file name, so relative refs like common.json#/... resolve."""
    resources = []
    for path in schema_files(schema_dir):
        resources.append((path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def validator_for(schema_dir, type_name, registry):
    schema = json.loads((Path(schema_dir) / f"{type_name}.json").read_text())
    # No $id: the empty base URI makes "common.json#/..." resolve to the registry entry "common.json".
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def iter_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def check_schemas(schema_dir):
    registry = load_registry(schema_dir)
    failures = 0
    files = schema_files(schema_dir)
    for path in files:
        try:
            schema = json.loads(path.read_text())
            Draft202012Validator.check_schema(schema)
            if "$id" in schema:
                raise ValueError("has an $id (schemas are referenced by relative file name)")
            resolver = registry.resolver(base_uri=path.name)
            for ref in iter_refs(schema):
                resolver.lookup(ref)
        except Exception as error:  # report every file, not just the first bad one
            failures += 1
            print(f"  FAIL {path}: {type(error).__name__}: {str(error).splitlines()[0]}")
    print(f"  {len(files) - failures} passed, {failures} failed ({schema_dir}: draft 2020-12 meta-schema, $refs resolve)")
    return failures == 0


def pointer(parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def rule_of(error):
    """The `<kind>:<path>` of one jsonschema error, as docs/protocol-nhem.md names rules."""
    path = list(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        # The error's instance is the offending member name; its path is the object holding it.
        return f"dangerous_key:{pointer(path + [error.instance])}"
    keyword = error.validator
    if keyword == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"required:{pointer(path + missing[:1])}"
    if keyword == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [name for name in error.instance if name not in known]
        return f"additional:{pointer(path + extra[:1])}"
    return f"{KIND_BY_KEYWORD.get(keyword, keyword)}:{pointer(path)}"


def check_fixtures(schema_dir, fixture_dir):
    registry = load_registry(schema_dir)
    validators = {}
    passed = failed = 0

    def validator(type_name):
        if type_name not in validators:
            validators[type_name] = validator_for(schema_dir, type_name, registry)
        return validators[type_name]

    for path in sorted(Path(fixture_dir).glob("*/*/*.json")):
        expectation, type_name = path.parent.parent.name, path.parent.name
        if expectation not in ("valid", "invalid"):
            continue
        document = json.loads(path.read_text())
        message = document if expectation == "valid" else document["message"]
        rules = sorted({rule_of(e) for e in validator(type_name).iter_errors(message)})
        expected = [] if expectation == "valid" else [document["rule"]]
        if rules == expected:
            passed += 1
        else:
            failed += 1
            print(f"  FAIL {path}: expected {expected or 'no error'}, got {rules or 'no error'}")
    print(f"{passed} passed, {failed} failed")
    return failed == 0 and passed > 0


def main(argv):
    if len(argv) == 3 and argv[1] == "schemas":
        return 0 if check_schemas(argv[2]) else 1
    if len(argv) == 4 and argv[1] == "fixtures":
        return 0 if check_fixtures(argv[2], argv[3]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
