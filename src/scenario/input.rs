//! Every file the program reads goes through here: one bounded reader, so that a device,
//! a FIFO or an endless pipe costs at most [`MAX_FILE_BYTES`] to refuse, and one walk of
//! the directories `simulate import` is given.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest input accepted. A generated 10,000-service scenario is about 2 MiB; a
/// large cluster's manifests a few MiB; anything far larger is a mistake, and reading it
/// would cost memory for nothing.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// An input that could not be read, and why (lowercase, without the OS's error number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct InputError {
    pub path: PathBuf,
    pub reason: String,
}

/// How `-` is named in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// The text at `path`, `-` for standard input. The size is checked on what is read, not
/// on what the file system says: `/dev/zero`, a FIFO and `<(command)` report a length of
/// 0.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    read_text_within(path, MAX_FILE_BYTES)
}

/// The largest part of a sharded run `simulate merge` reads: 100,000 trials of three
/// strategies take about 100 MB.
pub const MAX_PART_BYTES: u64 = 1024 * 1024 * 1024;

/// [`read_text`] with another bound (`simulate merge`'s parts, [`MAX_PART_BYTES`]).
pub fn read_text_within(path: &Path, limit: u64) -> Result<String, InputError> {
    if path == Path::new("-") {
        return read_within(std::io::stdin().lock(), Path::new(STDIN_NAME), limit);
    }
    let error = |reason: String| InputError {
        path: path.to_owned(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|err| error(io_reason(&err)))?;
    if metadata.is_dir() {
        return Err(error("it is a directory, not a file".into()));
    }
    let file = std::fs::File::open(path).map_err(|err| error(io_reason(&err)))?;
    read_within(file, path, limit)
}

/// Reads `source` (named `path` in messages) through the bound.
pub fn read_from(source: impl Read, path: &Path) -> Result<String, InputError> {
    read_within(source, path, MAX_FILE_BYTES)
}

/// [`read_from`] with another bound.
fn read_within(source: impl Read, path: &Path, limit: u64) -> Result<String, InputError> {
    let error = |reason: String| InputError {
        path: path.to_owned(),
        reason,
    };
    // Read at most one byte past the cap, so a huge file (or an endless one such as
    // /dev/zero) costs no more than the cap to refuse.
    let mut bytes = Vec::new();
    source
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| error(io_reason(&err)))?;
    if bytes.len() as u64 > limit {
        return Err(error(format!(
            "it is larger than the {} MiB limit",
            limit / 1024 / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|err| {
        error(format!(
            "it is not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        ))
    })
}

/// The files `simulate import` reads: each one named, and in each directory named (and
/// the folders inside it) the regular files ending in `.yaml` or `.yml`, in
/// path order. Anything else in
/// a directory (a FIFO, a device or a link to one, a socket) is skipped and listed: it
/// could block or never end, and nobody keeps manifests there.
#[derive(Debug, Default)]
pub struct ImportFiles {
    pub files: Vec<PathBuf>,
    /// (path, why) of what a directory held and was not read.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

pub fn import_files(inputs: &[PathBuf]) -> Result<ImportFiles, InputError> {
    let mut found = ImportFiles::default();
    for input in inputs {
        if input == Path::new("-") || !input.is_dir() {
            found.files.push(input.clone());
            continue;
        }
        walk(input, 0, &mut found)?;
    }
    Ok(found)
}

/// How deep `import` looks into folders within a named directory (Helm charts and
/// per-service folders are a few levels deep; a link loop is not followed forever).
pub const MAX_IMPORT_DEPTH: usize = 8;

/// The manifests of `dir` and of the folders inside it, in path order; hidden folders
/// (`.git`) are not entered.
fn walk(dir: &Path, depth: usize, found: &mut ImportFiles) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir).map_err(|err| InputError {
        path: dir.to_path_buf(),
        reason: io_reason(&err),
    })?;
    let mut inside: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    inside.sort();
    for path in inside {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        let manifest = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        // `metadata` follows links: a link to a regular file is read, a link to a
        // device is not.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() && !hidden => {
                if depth + 1 >= MAX_IMPORT_DEPTH {
                    found
                        .skipped
                        .push((path, "a folder too deep inside the directory"));
                } else {
                    walk(&path, depth + 1, found)?;
                }
            }
            Ok(_) if !manifest => {}
            Ok(meta) if meta.is_file() => found.files.push(path),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => found
                .skipped
                .push((path, "not a regular file (a FIFO, a device or a socket)")),
            Err(_) => found.skipped.push((path, "unreadable (a broken link?)")),
        }
    }
    Ok(())
}

/// The OS error without Rust's "(os error 2)" suffix, lowercase as the house style has it.
pub fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = err.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            text.to_lowercase()
        }
    }
}
