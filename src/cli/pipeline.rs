//! Reports for a pipeline: `--junit FILE`, `--markdown FILE`, `--step-summary`, and
//! GitHub Actions annotations when the command runs in GitHub Actions. What they say is
//! decided in `deploysim::report::gate`; this file only writes it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use deploysim::report::gate::{self, Gate, cases};
use deploysim::scenario::{Positions, ScenarioError};

use super::{exit, output};

/// The pipeline outputs every judging command takes.
#[derive(Debug, Args, Default)]
pub(super) struct PipelineArgs {
    /// Also write the result as JUnit XML to FILE: a test case per strategy and
    /// expectation (and per state that breaks it), for a CI server's test view.
    #[arg(long, value_name = "FILE")]
    pub(super) junit: Option<PathBuf>,
    /// Also write a Markdown summary of at most 40 lines to FILE (`-` for stdout,
    /// which replaces the tables), for a pull-request comment.
    #[arg(long, value_name = "FILE")]
    pub(super) markdown: Option<PathBuf>,
    /// Append the Markdown summary to the file $GITHUB_STEP_SUMMARY names (the job
    /// summary of GitHub Actions).
    #[arg(long)]
    pub(super) step_summary: bool,
}

/// True inside GitHub Actions, where findings are also printed as annotations.
fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

impl PipelineArgs {
    /// Whether any pipeline output is asked for (or implied by GitHub Actions); a gate
    /// is built only then.
    pub(super) fn wanted(&self) -> bool {
        self.junit.is_some() || self.markdown.is_some() || self.step_summary || github_actions()
    }

    /// Fails early, before anything runs, on an output that could not be written at
    /// the end (as `--json` does), and on `--step-summary` outside GitHub Actions.
    pub(super) fn check_targets(&self, scenario: &Path, json: Option<&Path>) -> Result<(), u8> {
        output::check_target("--junit", self.junit.as_deref(), scenario)?;
        output::check_target("--markdown", self.markdown.as_deref(), scenario)?;
        if self.junit.as_deref() == Some(Path::new("-")) {
            output::error("--junit -: the JUnit report goes to a file; name one");
            return Err(exit::INVALID);
        }
        // Two reports named one file: the second would replace the first.
        let named = [
            ("--json", json),
            ("--junit", self.junit.as_deref()),
            ("--markdown", self.markdown.as_deref()),
        ];
        for (i, (flag, path)) in named.iter().enumerate() {
            for (other, other_path) in &named[i + 1..] {
                if let (Some(a), Some(b)) = (path, other_path)
                    && *a != Path::new("-")
                    && (a == b || deploysim::output::same_file(a, b))
                {
                    output::error(&format!(
                        "{flag} and {other} both name {}: give each report its own file",
                        a.display()
                    ));
                    return Err(exit::INVALID);
                }
            }
        }
        if json == Some(Path::new("-")) && self.markdown.as_deref() == Some(Path::new("-")) {
            output::error(
                "--json - and --markdown - would both write to stdout; send one to a file",
            );
            return Err(exit::INVALID);
        }
        if self.step_summary && step_summary_file().is_none() {
            output::error(
                "--step-summary appends to the file $GITHUB_STEP_SUMMARY names, and it is not set \
                 (GitHub Actions sets it); use --markdown FILE elsewhere",
            );
            return Err(exit::INVALID);
        }
        Ok(())
    }

    /// True when the Markdown summary replaces the terminal report on stdout.
    pub(super) fn markdown_on_stdout(&self) -> bool {
        self.markdown.as_deref() == Some(Path::new("-"))
    }

    /// The terminal report `text` makes, or nothing when the summary takes stdout.
    pub(super) fn terminal<'f>(
        &self,
        text: impl FnOnce() -> String + 'f,
    ) -> impl FnOnce() -> String + 'f {
        let shown = !self.markdown_on_stdout();
        move || if shown { text() } else { String::new() }
    }

    /// Writes `gate` where asked: annotations (in GitHub Actions), JUnit, the Markdown
    /// summary (`markdown` instead of the gate's own when the command has its own).
    /// Err is the exit code of an output that could not be written, already reported.
    fn emit(
        &self,
        gate: &Gate,
        positions: Option<&Positions>,
        stdout_taken: bool,
        markdown: Option<String>,
    ) -> Result<(), u8> {
        if github_actions() {
            annotate(&gate::annotations(gate, positions), stdout_taken);
        }
        let summary = match markdown {
            Some(own) => gate::fit_summary(&own, &gate.rerun),
            None => gate::markdown(gate, positions),
        };
        let written = (|| {
            if let Some(path) = &self.junit {
                output::write_file(path, &gate::junit(gate, positions))?;
            }
            match self.markdown.as_deref() {
                Some(path) if path == Path::new("-") => output::print_out(&summary)?,
                Some(path) => output::write_file(path, &summary)?,
                None => {}
            }
            if self.step_summary
                && let Some(path) = step_summary_file()
            {
                append(&path, &summary)?;
            }
            Ok(())
        })();
        written.map_err(|message: String| {
            output::error(&message);
            exit::ENVIRONMENT
        })
    }

    /// An invalid scenario in a pipeline: every problem annotated on its line, and the
    /// JUnit and summary saying so. Called after the problems were printed.
    pub(super) fn invalid(&self, command: &'static str, file: &Path, err: &ScenarioError) {
        if !self.wanted() || matches!(err, ScenarioError::Read { .. }) {
            return;
        }
        // The outputs are checked as for a valid scenario first: a report must never
        // replace the scenario it is about, even an invalid one.
        if self.check_targets(file, None).is_err() {
            return;
        }
        let gate = cases::invalid(command, &shown(file), &err.problems());
        // The exit code is the invalid scenario's whatever happens here.
        let _ = self.emit(&gate, None, false, None);
    }
}

/// A run's pipeline outputs with what they point at: the scenario file as given, its
/// text (where each key is), the command that names it, and the flags that ask the same
/// question again.
pub(super) struct Gated<'a> {
    pub(super) pipeline: &'a PipelineArgs,
    pub(super) command: &'static str,
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) extra: Vec<String>,
}

impl Gated<'_> {
    /// Builds the gate (`build`, from the context of this file and `seed`) and writes it
    /// where asked, when anything is; `json` is where the JSON went (stdout is taken
    /// when it went there), `markdown` the command's own summary. Err is the exit code
    /// of an output that could not be written, already reported.
    pub(super) fn report(
        &self,
        seed: u64,
        json: Option<&Path>,
        markdown: Option<String>,
        build: impl FnOnce(cases::Context<'_>) -> Gate,
    ) -> Result<(), u8> {
        if !self.pipeline.wanted() {
            return Ok(());
        }
        let positions = deploysim::scenario::positions(self.text);
        // The live run is `simulate FILE`: no command word.
        let word = if self.command == "run" {
            ""
        } else {
            self.command
        };
        let rerun = rerun(word, self.file, seed, &self.extra);
        let file = shown(self.file);
        let gate = build(cases::Context {
            file: &file,
            seed,
            rerun: &rerun,
            positions: positions.as_ref(),
        });
        let stdout_taken = json == Some(Path::new("-")) || self.pipeline.markdown_on_stdout();
        self.pipeline
            .emit(&gate, positions.as_ref(), stdout_taken, markdown)
    }
}

/// `--strategy NAME` for each name, for a rerun.
pub(super) fn strategy_flags(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| format!("--strategy {}", deploysim::report::shell_word(name)))
        .collect()
}

/// The scenario file as annotations name it: relative to where the command runs, which
/// in a pipeline is the repository's root.
pub(super) fn shown(file: &Path) -> String {
    let text = file.display().to_string();
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

/// The command that reruns this one: `simulate COMMAND FILE --seed N` and `extra`.
pub(super) fn rerun(command: &str, file: &Path, seed: u64, extra: &[String]) -> String {
    let mut words = vec!["simulate".to_owned()];
    if !command.is_empty() {
        words.push(command.to_owned());
    }
    words.push(deploysim::report::shell_word(&shown(file)));
    words.push(format!("--seed {seed}"));
    words.extend(extra.iter().cloned());
    words.join(" ")
}

fn step_summary_file() -> Option<PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// Workflow commands go to stdout, where the runner reads them; to stderr when stdout
/// carries JSON or Markdown a program reads (the runner reads both).
fn annotate(lines: &[String], stdout_taken: bool) {
    for line in lines {
        if stdout_taken {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// Appends `text` to the job summary file. It belongs to the runner, which reads it
/// after the step: appended to, never replaced.
fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut file| file.write_all(format!("{text}\n").as_bytes()))
        .map_err(|err| {
            format!(
                "cannot append to $GITHUB_STEP_SUMMARY ({}): {}",
                path.display(),
                deploysim::scenario::input::io_reason(&err)
            )
        })
}
