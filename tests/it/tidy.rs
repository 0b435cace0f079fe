//! House rules that a reviewer would otherwise have to remember.

use std::path::Path;

use crate::support::root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let mut files = vec![root().join("build.rs")];
    for dir in ["src", "tests", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            !std::fs::read_to_string(path)
                .expect("readable")
                .starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {missing:?}"
    );
}

#[test]
fn readme_commands_name_files_that_exist() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(
        readme.contains("cargo test --release"),
        "the README gives the test command that .ci/run calls"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("cargo test --release"),
        ".ci/run runs the README's test command"
    );
    assert!(readme.contains("docs/scenario.md") && root().join("docs/scenario.md").exists());
    assert!(root().join("ARCHITECTURE.md").exists());
}

/// The pure core never touches the network, the clock or the runtime: `check` must be
/// runnable in a pipeline with no ports, and its answers must not depend on timing.
#[test]
fn the_pure_modules_use_no_network_clock_or_runtime() {
    let mut files = Vec::new();
    for dir in [
        "scenario", "eval", "plan", "import", "check", "record", "risk",
    ] {
        rust_files(&root().join("src").join(dir), &mut files);
    }
    for name in ["model.rs", "topology.rs", "seed.rs", "generate.rs"] {
        files.push(root().join("src").join(name));
    }
    let forbidden = [
        "tokio",
        "tonic::transport",
        "std::net",
        "TcpListener",
        "Instant",
        "SystemTime",
        "crate::runtime",
    ];
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        for word in forbidden {
            if text.contains(word) {
                found.push(format!("{} uses {word}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

/// The layers of the crate, lowest first: a module may import only from layers below its
/// own (ARCHITECTURE.md draws the same table). A new top-level module must be added here.
const LAYERS: [(&str, usize); 18] = [
    ("model", 0),
    ("seed", 0),
    ("contract", 0),
    ("lock", 0),
    ("topology", 1),
    ("generate", 1),
    ("scenario", 2),
    ("eval", 2),
    ("plan", 3),
    ("import", 3),
    ("check", 4),
    ("record", 5),
    ("risk", 6),
    ("runtime", 7),
    ("report", 8),
    ("lib", 9),
    ("cli", 10),
    ("main", 11),
];

/// The top-level modules that `text` (the source of a file of module `own`) imports:
/// every `crate::NAME` (and, in the binary's main.rs and cli/, `deploysim::NAME`) outside
/// comments.
fn imports(own: &str, text: &str) -> std::collections::BTreeSet<String> {
    let prefix = if own == "main" || own == "cli" {
        "deploysim::"
    } else {
        "crate::"
    };
    let mut found = std::collections::BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` imports each name in the braces.
            if name.is_empty() && after.starts_with('{') {
                let list = after[1..].split('}').next().unwrap_or_default();
                for item in list.split(',') {
                    let item = item.trim().split("::").next().unwrap_or_default();
                    if !item.is_empty() && item != own {
                        found.insert(item.to_owned());
                    }
                }
            } else if !name.is_empty() && name != own {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

/// Every wrong-way import and every circle among `modules` (name -> imported names),
/// as sentences; empty when the layering holds.
fn layering_problems(
    modules: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<String> {
    let rank = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
    let mut problems = Vec::new();
    for (module, imported) in modules {
        let Some(own) = rank(module) else {
            problems.push(format!(
                "{module} is not in the layer table of tests/it/tidy.rs"
            ));
            continue;
        };
        for name in imported {
            match rank(name) {
                Some(theirs) if theirs < own || module == "lib" => {}
                Some(theirs) => problems.push(format!(
                    "{module} (layer {own}) imports {name} (layer {theirs}): imports go downward only"
                )),
                None => {}
            }
        }
    }
    // A circle, whatever the table says: depth-first search over the import graph.
    fn visit<'a>(
        node: &'a str,
        modules: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
        problems: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut circle: Vec<&str> = path[at..].to_vec();
            circle.push(node);
            problems.push(format!("import circle: {}", circle.join(" -> ")));
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in modules.get(node).into_iter().flatten() {
            if next != "lib" && node != "lib" {
                visit(next, modules, path, done, problems);
            }
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for module in modules.keys() {
        visit(module, modules, &mut Vec::new(), &mut done, &mut problems);
    }
    problems
}

#[test]
fn modules_import_only_from_lower_layers() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a file name")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let text = std::fs::read_to_string(path).expect("readable");
        // Unit tests may load scenarios through the loader; only the code above them is a
        // dependency of the module.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let found = imports(&first, code);
        modules.entry(first).or_default().extend(found);
    }
    let problems = layering_problems(&modules);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_layering_check_finds_a_circle_and_a_wrong_way_import() {
    let mut modules = std::collections::BTreeMap::new();
    modules.insert(
        "plan".to_owned(),
        imports(
            "plan",
            "use crate::{check, model::Change};\nlet x = crate::seed::rng(1, \"a\");",
        ),
    );
    modules.insert(
        "check".to_owned(),
        imports("check", "use crate::plan::Plan; // crate::report"),
    );
    assert_eq!(
        modules["plan"]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["check", "model", "seed"]
    );
    let problems = layering_problems(&modules);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("plan (layer 3) imports check (layer 4)")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("import circle: check -> plan -> check")),
        "{problems:?}"
    );
}

/// Every `select!` of the crate is `biased`: an unbiased one picks its first branch with
/// tokio's RNG, which the runtime's seed does not control live, and the order of the
/// branches is then the only thing that keeps a `--net sim` run the same run after run.
#[test]
fn every_select_is_biased() {
    let mut files = Vec::new();
    rust_files(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        &mut files,
    );
    let mut unbiased = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.contains("select! {") {
                continue;
            }
            let next = lines[index + 1..]
                .iter()
                .map(|line| line.trim())
                .find(|line| !line.is_empty());
            if next != Some("biased;") {
                unbiased.push(format!("{}:{}", file.display(), index + 1));
            }
        }
    }
    assert!(
        files.len() > 20,
        "read only {} files: the walk is broken",
        files.len()
    );
    assert!(
        unbiased.is_empty(),
        "select! without `biased;` at {unbiased:?}"
    );
}
