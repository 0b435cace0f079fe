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
    rust_files(&root().join("src/check"), &mut files);
    rust_files(&root().join("src/scenario"), &mut files);
    for name in [
        "plan.rs",
        "topology.rs",
        "tally.rs",
        "verdict.rs",
        "seed.rs",
        "generate.rs",
    ] {
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
