//! The JSON Schema of scenario files (`simulate schema`): held key by key to the loader's
//! own table of keys, and run through a real validator (check-jsonschema) on every
//! shipped scenario and on the invalid ones whose mistake a schema can express.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::support::{root, simulate, tool, yaml_files};

const SCHEMA_FILE: &str = "schema/scenario.schema.json";

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join(SCHEMA_FILE)).expect("the schema file");
    serde_json::from_str(&text).expect("the schema is JSON")
}

#[test]
fn simulate_schema_prints_the_schema_file_of_draft_2020_12() {
    let run = simulate(&["schema"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = std::fs::read_to_string(root().join(SCHEMA_FILE))
        .expect("the shape the test wrote or read");
    assert_eq!(run.stdout, file);
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["required"], serde_json::json!(["name", "services"]));
}

/// The schemas a key path can be described by: `$ref`, `allOf`, `oneOf` and `anyOf`
/// opened into their alternatives.
fn alternatives<'a>(root: &'a Value, node: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        alternatives(root, &root["$defs"][name], out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            alternatives(root, branch, out);
        }
    }
    out.push(node);
}

/// A key path as the loader writes it (`services.web.versions.v1.calls[0]`) in parts:
/// names and `[i]`.
fn parts(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for word in path.split('.').filter(|w| !w.is_empty()) {
        let (name, indices) = word.split_at(word.find('[').unwrap_or(word.len()));
        if !name.is_empty() {
            parts.push(name.to_owned());
        }
        for _ in indices.matches('[') {
            parts.push("[]".to_owned());
        }
    }
    parts
}

/// The schema objects (those with `properties`) that describe key path `path`.
fn described<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut here = Vec::new();
    alternatives(root, root, &mut here);
    for part in parts(path) {
        let mut next = Vec::new();
        for node in here {
            let child = if part == "[]" {
                node.get("items")
            } else {
                node.get("properties")
                    .and_then(|p| p.get(&part))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            };
            if let Some(child) = child {
                alternatives(root, child, &mut next);
            }
        }
        here = next;
    }
    here.into_iter()
        .filter(|node| node.get("properties").is_some())
        .collect()
}

fn property_names(node: &Value) -> BTreeSet<String> {
    node["properties"]
        .as_object()
        .expect("the shape the test wrote or read")
        .keys()
        .cloned()
        .collect()
}

/// Every schema object with `properties`, by a pointer-like name, to count coverage.
fn schema_objects<'a>(node: &'a Value, at: String, out: &mut BTreeMap<String, &'a Value>) {
    match node {
        Value::Object(map) => {
            if map.contains_key("properties") {
                out.insert(at.clone(), node);
            }
            for (key, value) in map {
                schema_objects(value, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                schema_objects(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schema_knows_the_keys_the_loader_knows_at_every_mapping() {
    let schema = schema();
    let mut files = yaml_files("scenarios");
    // (Not loose-but-valid.yaml: its version names hold dots, which key paths do not
    // tell from their separators; it is for the validator below.)
    files.push(root().join("tests/fixtures/every-mapping.yaml"));
    let mut matched: BTreeSet<*const Value> = BTreeSet::new();
    let mut mismatches = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("the shape the test wrote or read");
        let table = deploysim::scenario::known_keys(&text).expect("a YAML tree");
        for (path, keys) in table {
            let loader: BTreeSet<String> = keys.into_iter().collect();
            let nodes = described(&schema, &path);
            match nodes.iter().find(|node| property_names(node) == loader) {
                Some(node) => {
                    matched.insert(*node as *const Value);
                }
                None => mismatches.push(format!(
                    "{}: `{path}`: the loader knows {loader:?}; the schema {:?}",
                    file.strip_prefix(root()).unwrap_or(file).display(),
                    nodes.iter().map(|n| property_names(n)).collect::<Vec<_>>()
                )),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // And the other way: every mapping the schema describes is one the loader read in
    // some file above, so no key of the schema goes unchecked.
    let mut objects = BTreeMap::new();
    schema_objects(&schema, String::new(), &mut objects);
    let unchecked: Vec<&String> = objects
        .iter()
        .filter(|(_, node)| !matched.contains(&(**node as *const Value)))
        .map(|(at, _)| at)
        .collect();
    assert!(
        unchecked.is_empty(),
        "mappings of the schema no scenario makes the loader read (add them to tests/fixtures/every-mapping.yaml): {unchecked:?}"
    );
}

/// The invalid scenarios whose mistake is a type, a range, an unknown key, a missing
/// required key or a bad name: the schema rejects each.
const REJECTED: [&str; 14] = [
    "availability-mistakes.yaml", // a level out of range, an unknown key
    "bad-names.yaml",
    "comments-only.yaml", // no document: no mapping
    "empty.yaml",
    "fault-two-kinds.yaml", // exactly one kind: oneOf
    "flag-mistakes.yaml",
    "many-problems.yaml",
    "missing-required.yaml",
    "not-a-mapping.yaml",
    "out-of-range.yaml",
    "step-not-a-list.yaml",
    "unknown-key.yaml",
    "unknown-strategy.yaml", // a built-in's name is a pattern
    "wrong-type.yaml",
];

/// The invalid scenarios whose mistake a schema cannot express: references between keys
/// (a service, a version, an API version that does not exist), call cycles, and rules
/// across keys (a fault's step past every strategy, a step that changes nothing or a
/// service twice, no entrypoint). The schema passes them; `simulate check` does not.
const BEYOND_A_SCHEMA: [&str; 9] = [
    "call-cycle.yaml",
    "fault-past-last-step.yaml",
    "fault-unknown-service.yaml",
    "no-entrypoint.yaml",
    "step-twice.yaml",
    "step-unchanged.yaml",
    "unknown-api.yaml",
    "unknown-service.yaml",
    "unknown-version.yaml",
];

/// Not YAML a validator can read as one document (not UTF-8, not YAML, a duplicate key,
/// an alias bomb): the parser refuses them before any schema.
const NOT_A_DOCUMENT: [&str; 4] = [
    "alias-bomb.yaml",
    "duplicate-key.yaml",
    "not-utf8.yaml",
    "not-yaml.yaml",
];

fn validate(files: &[&Path]) -> Option<Vec<(String, bool)>> {
    let mut results = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let out = tool(
            "python3",
            &[
                "-m",
                "check_jsonschema",
                "--schemafile",
                SCHEMA_FILE,
                &shown,
            ],
            "check-jsonschema (PyPI)",
        )?;
        results.push((shown, out.status.success()));
    }
    Some(results)
}

#[test]
fn a_real_validator_passes_every_shipped_scenario_and_rejects_the_listed_mistakes() {
    let shipped: Vec<std::path::PathBuf> = yaml_files("scenarios")
        .into_iter()
        .chain([
            root().join("tests/fixtures/every-mapping.yaml"),
            root().join("tests/fixtures/loose-but-valid.yaml"),
        ])
        .collect();
    // What the validator must pass, the loader loads: the schema never says an error
    // where the tool sees none (numbers as names, say).
    for file in &shipped {
        assert!(
            deploysim::scenario::load(file).is_ok(),
            "{} loads",
            file.display()
        );
    }
    let paths: Vec<&Path> = shipped.iter().map(|p| p.as_path()).collect();
    let Some(results) = validate(&paths) else {
        return;
    };
    for (file, valid) in results {
        assert!(valid, "{file} should validate against the schema");
    }
    // Every invalid fixture is in exactly one list.
    let listed: BTreeSet<&str> = REJECTED
        .iter()
        .chain(&BEYOND_A_SCHEMA)
        .chain(&NOT_A_DOCUMENT)
        .copied()
        .collect();
    let fixtures: BTreeSet<String> = yaml_files("scenarios/invalid")
        .iter()
        .map(|p| {
            p.file_name()
                .expect("the shape the test wrote or read")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        listed
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        fixtures,
        "each file of scenarios/invalid/ is listed once in tests/it/schema.rs"
    );
    let invalid = |names: &[&str]| -> Vec<std::path::PathBuf> {
        names
            .iter()
            .map(|name| root().join("scenarios/invalid").join(name))
            .collect()
    };
    for (names, expected) in [(&REJECTED[..], false), (&BEYOND_A_SCHEMA[..], true)] {
        let files = invalid(names);
        let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        for (file, valid) in validate(&paths).expect("the shape the test wrote or read") {
            assert_eq!(
                valid,
                expected,
                "{file}: the schema {} it",
                if expected {
                    "should pass (the mistake is beyond a schema)"
                } else {
                    "should reject"
                }
            );
        }
    }
}

#[test]
fn every_shipped_scenario_names_the_schema_for_editors() {
    for file in yaml_files("scenarios") {
        let text = std::fs::read_to_string(&file).expect("the shape the test wrote or read");
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=../schema/scenario.schema.json"),
            "{}",
            file.display()
        );
    }
}
