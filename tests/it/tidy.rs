//! House rules that a reviewer would otherwise have to remember.

use std::path::Path;

use crate::support::root;

/// The code files under `dir`: every `.rs` file but unit tests kept in a `tests.rs` of
/// their own, which may reach anywhere (`rust_files` has them too).
fn code_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut all = Vec::new();
    rust_files(dir, &mut all);
    out.extend(
        all.into_iter()
            .filter(|path| path.file_name().is_none_or(|name| name != "tests.rs")),
    );
}

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
const LAYERS: [(&str, usize); 24] = [
    ("model", 0),
    ("stats", 0),
    ("shard", 0),
    ("verdict", 0),
    ("output", 0),
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
    ("avail", 4),
    ("kube", 4),
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
    code_files(&src, &mut files);
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

/// A file's module path: `src/record/expect.rs` is `record::expect`, `src/record/mod.rs`
/// is `record`; the binary's files (main.rs, cli/) live under `bin`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    if parts
        .first()
        .is_some_and(|first| first == "main" || first == "cli")
    {
        parts.retain(|part| part != "main");
        parts.insert(0, "bin".to_owned());
    }
    parts
}

/// The paths `code` names from the crate root, resolved against `own` (its module path):
/// `crate::`, `super::` and, in the
/// binary, `deploysim::` paths, with `{a, b::c}` groups expanded. Comments are skipped.
fn named_paths(own: &[String], code: &str) -> Vec<Vec<String>> {
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let bin = own.first().is_some_and(|first| first == "bin");
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 12)].iter().collect();
        let starts = ["crate::", "super::", "deploysim::"]
            .into_iter()
            .find(|start| rest.starts_with(start));
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let Some(start) = starts.filter(|_| boundary) else {
            i += 1;
            continue;
        };
        // The base the path starts from.
        let mut base: Vec<String> = match start {
            "crate::" if bin => vec!["bin".to_owned()],
            "crate::" | "deploysim::" => Vec::new(),
            // `super` is the module that contains this one, whether this one is a
            // file or a folder's mod.rs.
            _ => own[..own.len().saturating_sub(1)].to_vec(),
        };
        i += start.len();
        // Further `super::`s climb on.
        while chars[i..].iter().collect::<String>().starts_with("super::") {
            base.pop();
            i += "super::".len();
        }
        let (paths, end) = expand(&chars, i);
        for path in paths {
            let mut full = base.clone();
            full.extend(path);
            found.push(full);
        }
        i = end;
    }
    found
}

/// The paths written at `chars[i..]`: `a::b::C`, or `a::{b, c::d}`; and where they end.
fn expand(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix: Vec<String> = Vec::new();
    loop {
        let word: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if !word.is_empty() {
            i += word.chars().count();
            prefix.push(word);
            if chars[i..].iter().collect::<String>().starts_with("::") {
                i += 2;
                continue;
            }
            return (vec![prefix], i);
        }
        if chars.get(i) == Some(&'{') {
            i += 1;
            let mut paths = Vec::new();
            loop {
                while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if chars.get(i).is_none_or(|c| *c == '}') {
                    return (paths, i + 1);
                }
                let (inner, end) = expand(chars, i);
                if end == i {
                    i += 1;
                    continue;
                }
                for path in inner {
                    let mut full = prefix.clone();
                    full.extend(path);
                    paths.push(full);
                }
                i = end;
            }
        }
        return (vec![prefix], i);
    }
}

/// Every import circle between the files of one folder, at any depth: within each folder,
/// a child (a file, or a subfolder with everything in it) depends on a sibling when some
/// file inside it names something inside the sibling. `files` maps each file's module
/// path to the paths it names (see `named_paths`).
fn folder_circles(
    files: &std::collections::BTreeMap<Vec<String>, Vec<Vec<String>>>,
) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let modules: BTreeSet<&Vec<String>> = files.keys().collect();
    // The module a named path is in: its longest prefix that is a module.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| modules.contains(prefix))
    };
    // Per folder, the edges between its children.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (own, named) in files {
        for path in named {
            let Some(target) = resolve(path) else {
                continue;
            };
            let common = own.iter().zip(&target).take_while(|(a, b)| a == b).count();
            // Only two different children of one folder make an edge; a file naming its
            // own folder's mod.rs, or a child of its own, is not a sibling's import.
            if common < own.len() && common < target.len() {
                graphs
                    .entry(own[..common].to_vec())
                    .or_default()
                    .entry(own[common].clone())
                    .or_default()
                    .insert(target[common].clone());
            }
        }
    }
    let mut circles = Vec::new();
    for (folder, graph) in &graphs {
        for circle in circles_in(graph) {
            let at = if folder.is_empty() {
                "src".to_owned()
            } else {
                folder.join("::")
            };
            circles.push(format!("import circle in {at}: {}", circle.join(" -> ")));
        }
    }
    circles
}

/// The circles of a directed graph, each once (from its smallest name).
fn circles_in(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut std::collections::BTreeSet<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            // The same circle found from another node is the same circle.
            let smallest = (0..circle.len()).min_by_key(|&k| &circle[k]).unwrap_or(0);
            circle.rotate_left(smallest);
            circle.push(circle[0].clone());
            found.insert(circle);
            return;
        }
        if path.len() > graph.len() {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, found);
        }
        path.pop();
    }
    let mut found = std::collections::BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn no_folder_has_an_import_circle_at_any_depth() {
    let src = root().join("src");
    let mut paths = Vec::new();
    code_files(&src, &mut paths);
    let mut files = std::collections::BTreeMap::new();
    for path in &paths {
        let relative = path.strip_prefix(&src).expect("under src");
        let own = module_path(relative);
        let text = std::fs::read_to_string(path).expect("readable");
        // Unit tests may reach anywhere; only the code above them is a dependency.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        files.insert(own.clone(), named_paths(&own, code));
    }
    assert!(
        files.contains_key(&vec!["record".to_owned(), "expect".to_owned()])
            && files.contains_key(&vec!["bin".to_owned(), "cli".to_owned()]),
        "the module paths are wrong: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let circles = folder_circles(&files);
    assert!(circles.is_empty(), "{circles:#?}");
}

#[test]
fn the_circle_check_finds_a_circle_planted_deep_in_a_folder() {
    let own = |path: &str| -> Vec<String> { path.split("::").map(str::to_owned).collect() };
    let mut files = std::collections::BTreeMap::new();
    // report::live::{json, sections} import each other through `super::`, two levels
    // down; report::live (the folder) naming its children is not a circle, nor is a
    // child naming its folder.
    files.insert(
        own("report::live::json"),
        named_paths(&own("report::live::json"), "use super::sections::table;"),
    );
    files.insert(
        own("report::live::sections"),
        named_paths(
            &own("report::live::sections"),
            "use super::{json::{StepJson, json}, text};\nlet x = crate::record::millis(d); // crate::report",
        ),
    );
    files.insert(
        own("report::live"),
        named_paths(&own("report::live"), "use self::json; use super::table;"),
    );
    files.insert(own("report"), Vec::new());
    files.insert(own("record"), Vec::new());
    assert!(
        files[&own("report::live::sections")].contains(&own("report::live::json::StepJson")),
        "{:?}",
        files[&own("report::live::sections")]
    );
    assert_eq!(
        folder_circles(&files),
        ["import circle in report::live: json -> sections -> json"]
    );
}

/// Every module of the library is on the crate map in lib.rs's `//!` lines.
#[test]
fn the_crate_map_names_every_module() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("lib.rs");
    let map: String = lib
        .lines()
        .filter(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let name = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(name.trim_end_matches(';'))
        })
        .filter(|name| !map.contains(&format!("[`{name}`]")) && !map.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "lib.rs's crate map misses {missing:?}");
}

/// Every purpose a random stream is drawn for is listed in seed.rs, where users look
/// when a recorded seed must reproduce.
#[test]
fn every_seed_purpose_is_listed_in_seed_rs() {
    let seed_doc: String = std::fs::read_to_string(root().join("src/seed.rs"))
        .expect("seed.rs")
        .lines()
        .filter(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut purposes = std::collections::BTreeSet::new();
    for path in &files {
        let text: String = std::fs::read_to_string(path)
            .expect("readable")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for call in ["seed::rng(", "seed::derive("] {
            for after in text.split(call).skip(1) {
                // The purpose: the first string literal among the arguments (a call whose
                // purpose comes from a helper has none), up to its first `/` or `{`.
                let mut depth = 1;
                let arguments: String = after
                    .chars()
                    .take_while(|c| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth > 0
                    })
                    .collect();
                let Some(literal) = arguments.split('"').nth(1) else {
                    continue;
                };
                let purpose = literal.split(['/', '{']).next().unwrap_or_default();
                if !purpose.is_empty() {
                    purposes.insert(purpose.to_owned());
                }
            }
        }
    }
    assert!(
        purposes.len() >= 8,
        "found only {purposes:?}: the scan is broken"
    );
    let unlisted: Vec<&String> = purposes
        .iter()
        .filter(|purpose| !seed_doc.contains(&format!("`{purpose}")))
        .collect();
    assert!(unlisted.is_empty(), "seed.rs does not list {unlisted:?}");
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
