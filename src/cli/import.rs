//! `simulate import FILE_OR_DIR...`: a scenario to edit, from manifests or a dependency
//! list. Reads through the loader's bounded reader; the import itself is pure.

use std::path::PathBuf;

use deploysim::scenario::{self, input};

use super::args::ImportArgs;
use super::{exit, output};

pub(super) fn run(args: &ImportArgs) -> u8 {
    let texts = match read_inputs(args) {
        Ok(texts) => texts,
        Err(code) => return code,
    };
    let name = args.name.clone().unwrap_or_else(|| {
        args.inputs[0].file_stem().map_or_else(
            || "imported".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    });
    let options = deploysim::import::Options {
        names: args.map.clone(),
        entrypoints: args.entrypoints.clone(),
    };
    let imported = match deploysim::import::import(&name, &texts, &options) {
        Ok(imported) => imported,
        Err(err) => {
            output::error(&err.to_string());
            return exit::INVALID;
        }
    };
    // What import writes must load; were it not to, that is a bug to report, not a file
    // to hand over.
    let written_as = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("imported.yaml"));
    let yaml = &imported.yaml;
    let scenario = match scenario::parse_str(yaml, &written_as) {
        Ok(scenario) => scenario,
        Err(err) => {
            output::error(&format!(
                "the imported scenario does not load (a bug, please report it):\n{err}"
            ));
            return exit::ENVIRONMENT;
        }
    };
    let written = match &args.out {
        Some(path) => output::write_file(path, yaml),
        None => output::print_out(yaml),
    };
    if let Err(message) = written {
        output::error(&message);
        return exit::ENVIRONMENT;
    }
    output::say(&deploysim::report::import_summary(
        &scenario,
        &imported,
        args.out.as_deref(),
    ));
    exit::OK
}

/// Every input's text, named as the scenario's comments will name it; or the exit code
/// of what could not be read (or would be overwritten), already reported.
fn read_inputs(args: &ImportArgs) -> Result<Vec<(String, String)>, u8> {
    let found = input::import_files(&args.inputs).map_err(|err| {
        output::error(&err.to_string());
        exit::INVALID
    })?;
    if let Some(out) = &args.out
        && let Some(input) = found
            .files
            .iter()
            .find(|file| deploysim::output::same_file(out, file))
    {
        output::error(&format!(
            "--out {}: that is an input ({}); write the scenario to another file",
            out.display(),
            input.display()
        ));
        return Err(exit::INVALID);
    }
    for (path, why) in &found.skipped {
        output::note(&format!("{}: skipped: {why}", path.display()));
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    for file in &found.files {
        let text = input::read_text(file).map_err(|err| {
            output::error(&err.to_string());
            exit::INVALID
        })?;
        texts.push((shown(file), text));
    }
    if texts.is_empty() {
        output::error(&format!(
            "no .yaml or .yml file in {}",
            args.inputs[0].display()
        ));
        return Err(exit::INVALID);
    }
    Ok(texts)
}

/// How an input is named in the scenario's comments and in messages.
fn shown(file: &std::path::Path) -> String {
    if file == std::path::Path::new("-") {
        input::STDIN_NAME.to_owned()
    } else {
        file.display().to_string()
    }
}
