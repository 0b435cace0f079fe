//! Writing the files a command produces (`--json FILE`, `--out DIR`'s pages, `import
//! --out FILE`) without clobbering what it should not.
//!
//! Who chose the name decides how a link is treated:
//! - a file the user names on the command line ([`Place::Named`]): a regular file (or a
//!   new one) is replaced atomically, through a fresh file beside it and a rename, so a
//!   run stopped halfway leaves the old file whole; a link the user names is written
//!   through (their choice, as a shell's `>` does); a device, FIFO or pipe
//!   (`/dev/stdout`, `/dev/fd/N`, `<(...)`) is written as a stream;
//! - a file the tool names inside a directory ([`Place::InDir`], report.md and
//!   report.html in `--out DIR`): never followed. The fresh file is created with
//!   `create_new` (O_EXCL, which fails on an existing link rather than following it) and
//!   renamed over the name, so a link planted there is replaced, and the file it points
//!   at is not touched.
//!
//! No file is ever truncated in place, so nothing a link points at can be emptied.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Who chose a file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The user named it on the command line.
    Named,
    /// The tool named it inside a directory the user named.
    InDir,
}

/// Writes `bytes` to `path`.
pub fn write(path: &Path, bytes: &[u8], place: Place) -> std::io::Result<()> {
    write_with(path, place, |out| out.write_all(bytes))
}

/// Writes to `path` what `fill` writes into the stream it is given (buffered): a large
/// report goes out as it is produced, never held whole in memory.
pub fn write_with(
    path: &Path,
    place: Place,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if place == Place::InDir {
        return replace(path, fill);
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(std::io::Error::other("it is a directory")),
        // A link, a device, a FIFO: what the user named is written to as it is.
        Ok(meta) if !meta.is_file() => write_through(path, fill),
        _ => replace(path, fill),
    }
}

/// Writes to whatever `path` opens (following a link): a stream, or a file the user
/// deliberately linked.
fn write_through(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let is_file = std::fs::metadata(path).is_ok_and(|meta| meta.is_file());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(is_file)
        .open(path)?;
    let mut out = std::io::BufWriter::new(file);
    fill(&mut out)?;
    out.flush()
}

/// Replaces `path` with a new file holding what `fill` writes: written beside it under
/// a fresh name, then renamed over it.
fn replace(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (fresh, file) = fresh_file(parent(path), path.file_name())?;
    let mut out = std::io::BufWriter::new(file);
    let written = fill(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| std::fs::rename(&fresh, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&fresh);
    }
    written
}

/// Fails early when a file could not be written in `dir`: creates a fresh file there and
/// removes it. Follows no link and truncates nothing.
pub fn probe_dir(dir: &Path) -> std::io::Result<()> {
    let (fresh, file) = fresh_file(dir, None)?;
    drop(file);
    std::fs::remove_file(fresh)
}

/// Checks that `path` can be written, before a long run: its directory can take a new
/// file (a regular or new file is replaced through one); a link, device or FIFO the user
/// named is left alone (opening a FIFO would wait for a reader).
pub fn probe(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(std::io::Error::other("it is a directory")),
        Ok(meta) if !meta.is_file() => Ok(()),
        _ => {
            let dir = parent(path);
            if !dir.exists() {
                return Err(std::io::Error::other(format!(
                    "{} does not exist",
                    dir.display()
                )));
            }
            if !dir.is_dir() {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            probe_dir(dir)
        }
    }
}

/// True when `a` and `b` are the same file (the same device and inode), links and
/// relative paths notwithstanding; false when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => same_inode(&a, &b),
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

/// The directory a file is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new file in `dir` under a name nobody holds: created with `create_new`, which
/// fails rather than follow a link or open an existing file.
fn fresh_file(
    dir: &Path,
    beside: Option<&std::ffi::OsStr>,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let stem = beside.map_or_else(
        || "simulate".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut last = None;
    // A name taken (a planted file, another run) is skipped; a few tries suffice.
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let fresh = dir.join(format!(".{stem}.{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&fresh)
        {
            Ok(file) => return Ok((fresh, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no fresh name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("deploysim-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_in_a_directory_is_replaced_and_its_target_untouched() {
        let dir = temp_dir("planted");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "keep me").expect("write");
        let out = dir.join("out");
        std::fs::create_dir(&out).expect("out dir");
        std::os::unix::fs::symlink(&victim, out.join("report.html")).expect("link");
        std::os::unix::fs::symlink(&victim, out.join(".simulate-write-probe")).expect("link");
        probe_dir(&out).expect("the probe writes a fresh file");
        write(&out.join("report.html"), b"page", Place::InDir).expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep me");
        let report = out.join("report.html");
        assert!(
            !std::fs::symlink_metadata(&report)
                .expect("exists")
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(report).expect("read"), "page");
        let left: Vec<_> = std::fs::read_dir(&out)
            .expect("list")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no fresh file is left behind: {left:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_the_user_names_is_written_through_and_a_file_is_replaced_whole() {
        let dir = temp_dir("named");
        let target = dir.join("target.json");
        std::fs::write(&target, "old").expect("write");
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&target, &link).expect("link");
        write(&link, b"new", Place::Named).expect("written");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("exists")
                .file_type()
                .is_symlink()
        );
        let plain = dir.join("plain.json");
        write(&plain, b"first", Place::Named).expect("written");
        write(&plain, b"second", Place::Named).expect("written");
        assert_eq!(std::fs::read_to_string(&plain).expect("read"), "second");
        assert!(same_file(&link, &target));
        assert!(!same_file(&plain, &target));
        let _ = std::fs::remove_dir_all(dir);
    }
}
