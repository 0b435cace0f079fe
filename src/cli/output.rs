//! Everything the command line writes: reports on stdout (fitted to the terminal's
//! width), JSON to a file or stdout, and errors and notes on stderr. The progress line
//! has its own file (`progress`).

use std::fmt::Display;
use std::io::Write as _;
use std::path::Path;

use deploysim::output::{self as files, Place};

use super::exit;

/// `error: MESSAGE` on stderr.
pub(super) fn error(message: &str) {
    eprintln!("error: {message}");
}

/// `note: MESSAGE` on stderr.
pub(super) fn note(message: &str) {
    eprintln!("note: {message}");
}

/// An error that formats itself whole (a scenario's problems, with their snippets).
pub(super) fn report_error(err: &impl Display) {
    eprintln!("{err}");
}

/// A line on stderr that is neither an error nor a note (import's summary).
pub(super) fn say(message: &str) {
    eprintln!("{message}");
}

/// Prints a command's report: the text on stdout, unless the JSON goes there (`--json -`),
/// and the JSON to its file. Err is the exit code of a JSON file that cannot be written,
/// already reported.
pub(super) fn emit<J: serde::Serialize>(
    json: Option<&Path>,
    text: impl FnOnce() -> String,
    report: impl FnOnce() -> J,
) -> Result<(), u8> {
    let written = if json == Some(Path::new("-")) {
        Ok(())
    } else {
        let text = text();
        match terminal_width() {
            Some(width) => print_out(&deploysim::report::fit(&text, width)),
            None => print_out(&text),
        }
    };
    let written = written.and_then(|()| match json {
        Some(json_path) => write_json(json_path, &report()),
        None => Ok(()),
    });
    written.map_err(|message| {
        error(&message);
        exit::ENVIRONMENT
    })
}

/// The width reports are fitted to: `COLUMNS` when set, else the terminal's when stdout
/// is one. Output to a file or a pipe keeps its full lines, for grep and diff.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
    {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(width, _)| usize::from(width.0))
}

/// Writes `text` to stdout. A reader that went away (`simulate generate | head -1`) is not
/// an error: the command has nothing more to say to it.
pub(super) fn print_out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {err}"))
        }
        _ => Ok(()),
    }
}

/// Writes `text` to `path`, a file the user named (see `deploysim::output`).
pub(super) fn write_file(path: &Path, text: &str) -> Result<(), String> {
    write_in(path, text, Place::Named)
}

/// Writes `text` to `path` as `place` says who named it.
pub(super) fn write_in(path: &Path, text: &str, place: Place) -> Result<(), String> {
    files::write(path, text.as_bytes(), place).map_err(|err| {
        format!(
            "cannot write {}: {}",
            path.display(),
            deploysim::scenario::input::io_reason(&err)
        )
    })
}

fn write_json(path: &Path, report: &impl serde::Serialize) -> Result<(), String> {
    // Serialized straight into the output, as it goes: a large report is never held whole.
    let fill = |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    };
    if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        return match fill(&mut out).and_then(|()| out.flush()) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(format!("cannot write to stdout: {err}"))
            }
            _ => Ok(()),
        };
    }
    files::write_with(path, Place::Named, fill).map_err(|err| {
        format!(
            "cannot write {}: {}",
            path.display(),
            deploysim::scenario::input::io_reason(&err)
        )
    })
}

/// Fails early, before anything runs, when the JSON report could not be written at the
/// end: a long run should not end in "cannot write". Nothing is created or truncated
/// here (a run that stops on a later error leaves no empty file). A JSON file that is the
/// scenario being read is refused: the report would overwrite its own input.
pub(super) fn check_json_target(json: Option<&Path>, scenario: &Path) -> Result<(), u8> {
    check_target("--json", json, scenario)
}

/// [`check_json_target`] for the file of any option (`flag`, as the user wrote it).
pub(super) fn check_target(flag: &str, target: Option<&Path>, scenario: &Path) -> Result<(), u8> {
    let Some(path) = target.filter(|path| *path != Path::new("-")) else {
        return Ok(());
    };
    if files::same_file(path, scenario) {
        error(&format!(
            "{flag} {}: that is the scenario being read; write the report to another file",
            path.display()
        ));
        return Err(exit::INVALID);
    }
    files::probe(path).map_err(|err| {
        error(&format!(
            "cannot write {}: {}",
            path.display(),
            deploysim::scenario::input::io_reason(&err)
        ));
        exit::ENVIRONMENT
    })
}

/// `--out DIR`, made (with its parents) when missing; an error says why it cannot be.
pub(super) fn make_out_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--out {}: not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|err| {
        format!(
            "--out {}: cannot create it: {}",
            dir.display(),
            deploysim::scenario::input::io_reason(&err)
        )
    })?;
    // A directory we cannot write to fails here, not after the trials. The probe is a
    // fresh file, never one that exists (nor a link planted under a known name).
    files::probe_dir(dir).map_err(|err| {
        format!(
            "--out {}: cannot write in it: {}",
            dir.display(),
            deploysim::scenario::input::io_reason(&err)
        )
    })
}
