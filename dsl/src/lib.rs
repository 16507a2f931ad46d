//! guard-dsl: the `.guard` policy language (contract v0, `shared/guard-language.md`).
//!
//! The pipeline, one module per stage:
//!
//! 1. `parse` — pest (`grammar.pest`) → `ast` (byte spans and a file id on everything), with
//!    strings decoded (`parse::tree`, `parse::strings`; pest's errors in words in
//!    `parse::syntax_error`);
//! 2. `check` — names, references and block shapes across all files;
//! 3. `load` — the files a policy names (`deny keyword file`), resolved relative to the naming
//!    file's directory and read once each, so that lowering does no I/O;
//! 4. `lower` — values validated (`lower::values`, `lower::template`) and converted into a
//!    [`guard_engine::ir::Program`], a function of the trees and the loaded texts, then compiled
//!    with [`guard_engine::compile`];
//! 5. `diagnostic` — every problem of every stage, rendered for people or as JSON.
//!
//! Beside the stages, `keywords` is the one table of the language's keywords and statements that
//! parsing, syntax errors and checks read, and `suggest` the did-you-mean every stage uses.
//! `format` (`guardc fmt`) prints a file in the canonical layout, comments kept, from its parse
//! and its text.
//!
//! Every stage reports all it finds; a file with a syntax error is reported (pest stops at the
//! first one in a file) and the other files are still checked. The program is compiled only when
//! nothing was reported, so DFA budget errors appear once everything else is clean.
//!
//! # Decisions the contract leaves open
//!
//! - Policy names, rule ids and judge names are each unique across all files compiled together
//!   (rule ids too: verdicts, logs and metrics name a rule by its id alone).
//! - All `deny` lines of a rule (`keyword`, `keyword file`, `regex`, in any mix) are one action:
//!   one `Patterns` with keywords and regexes in the order written. `deny` plus `escalate`, or two
//!   `escalate`s, is an error, as is a rule with no action.
//! - `"""..."""` strings are raw (no escapes) and dedented as `parse::strings::decode_triple`
//!   documents: a whitespace-only first line and last line are dropped, the longest common
//!   leading whitespace of the non-blank lines is removed, line breaks become `\n`.
//! - `{{` always opens a placeholder. Secrets may appear only in `inject header` values and
//!   `api_key`; `content`, `fence`, `policy`, `rule` only in prompts, which must use `content`.
//! - Every judge field but `cluster` is required; `on_error` has no default, so failing open is
//!   always written down.
//! - A deny keyword may not be blank and a deny regex may not match the empty string: either
//!   would deny every request.
//! - `normalize off` in a rule (not in the v0 contract) sets the engine's
//!   `Patterns::skip_normalization`.

mod ast;
mod check;
mod diagnostic;
mod format;
mod keywords;
mod lint;
mod load;
mod lower;
mod parse;
mod suggest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostics, Entry, ErrorFormat, Location, Severity};
pub use format::{format_off, format_source, FORMAT_OFF};
pub use lint::lint_paths;

use ast::{FileId, Span};
use diagnostic::{lowercase_first, Code, Diag, SourceFile};

/// A compiled set of `.guard` files.
#[derive(Debug, Clone)]
pub struct Compilation {
    pub program: guard_engine::ir::Program,
    /// Bundle bytes and DFA group sizes.
    pub compiled: guard_engine::Compiled,
    /// Every rule, in program order.
    pub rules: Vec<RuleSource>,
    /// The `.guard` files compiled, in order.
    pub files: Vec<PathBuf>,
    /// The sources, for diagnostics about a compiled program ([`Compilation::missing_secrets`]).
    sources: Vec<SourceFile>,
    /// Every `{{ secret.NAME }}` the program expands, with where it is written.
    secret_uses: Vec<(String, Span)>,
    /// The parsed files and where each rule's patterns are written, for `lint`.
    asts: Vec<ast::File>,
    pattern_spans: Vec<Vec<(Vec<Span>, Vec<Span>)>>,
}

impl Compilation {
    /// The names of the secrets the program expands (header values, `api_key`s), sorted, each
    /// once: what the filter's configuration must provide.
    pub fn secrets(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.secret_uses.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Checks that a deployment providing the secrets `provided` gives the program every secret
    /// it uses: one `missing_secret` diagnostic per missing name, at each place that uses it.
    pub fn missing_secrets(&self, provided: &[String]) -> Result<(), Diagnostics> {
        let mut diags = Vec::new();
        for name in self.secrets() {
            if provided.iter().any(|p| p == name) {
                continue;
            }
            let mut uses = self
                .secret_uses
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, s)| *s);
            let mut diag = Diag::new(
                Code::MissingSecret,
                format!("secret `{name}` is used but not provided"),
            )
            .help(format!(
                "the filter refuses to start without it: add `{name}` to the secrets of its \
                 configuration (`pluginConfig: {{\"secrets\": {{\"{name}\": \"...\"}}}}`) and \
                 to `--secrets`, or stop using it"
            ));
            if let Some(first) = uses.next() {
                diag = diag.at(first, "used here");
            }
            for again in uses {
                diag = diag.also(again, "and here");
            }
            diags.push(diag);
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics::new(self.sources.clone(), diags))
        }
    }
}

/// Where a rule was written; `line` and `column` are 1-based (the column counts characters) and
/// locate its `rule` keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    pub policy: String,
    pub rule: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// Compiles `.guard` files. A directory stands for the `*.guard` files directly in it (not in its
/// subdirectories), sorted by name; a file is compiled as given, whatever its extension. A path
/// that does not exist, or a directory without `.guard` files, is an error.
pub fn compile_paths(
    paths: &[PathBuf],
    options: &guard_engine::CompileOptions,
) -> Result<Compilation, Diagnostics> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    if paths.is_empty() {
        diags.push(
            Diag::new(Code::NoInput, "no .guard files given")
                .help("name .guard files or directories"),
        );
    }
    for path in paths {
        match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                diags.push(
                    Diag::new(
                        Code::NoSuchFile,
                        format!("`{}` does not exist", path.display()),
                    )
                    .path(path),
                );
            }
            Err(err) => {
                diags.push(
                    Diag::new(
                        Code::UnreadableFile,
                        format!(
                            "cannot read `{}`: {}",
                            path.display(),
                            lowercase_first(&err.to_string())
                        ),
                    )
                    .path(path),
                );
            }
            Ok(meta) if meta.is_dir() => match guard_files_in(path) {
                Ok(found) if found.is_empty() => diags.push(
                    Diag::new(
                        Code::NoGuardFiles,
                        format!("directory `{}` has no .guard files", path.display()),
                    )
                    .path(path)
                    .help("only files named `*.guard` directly in the directory are compiled"),
                ),
                Ok(found) => files.extend(found),
                Err(err) => diags.push(
                    Diag::new(
                        Code::UnreadableFile,
                        format!(
                            "cannot read directory `{}`: {}",
                            path.display(),
                            lowercase_first(&err.to_string())
                        ),
                    )
                    .path(path),
                ),
            },
            Ok(_) => files.push(path.clone()),
        }
    }
    let mut inputs = Vec::new();
    for file in files {
        match std::fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => inputs.push((file, text)),
                Err(err) => diags.push(
                    Diag::new(
                        Code::UnreadableFile,
                        format!(
                            "`{}` is not valid UTF-8 (byte {})",
                            file.display(),
                            err.utf8_error().valid_up_to()
                        ),
                    )
                    .path(&file)
                    .help("save the file as UTF-8"),
                ),
            },
            Err(err) => diags.push(
                Diag::new(
                    Code::UnreadableFile,
                    format!(
                        "cannot read `{}`: {}",
                        file.display(),
                        lowercase_first(&err.to_string())
                    ),
                )
                .path(&file),
            ),
        }
    }
    run(inputs, diags, options)
}

/// Like [`compile_paths`], from in-memory `(name, text)` sources. A name is shown in diagnostics
/// as given, and `deny keyword file` paths are resolved relative to its parent directory.
pub fn compile_sources(
    sources: &[(String, String)],
    options: &guard_engine::CompileOptions,
) -> Result<Compilation, Diagnostics> {
    let inputs = sources
        .iter()
        .map(|(name, text)| (PathBuf::from(name), text.clone()))
        .collect();
    run(inputs, Vec::new(), options)
}

fn guard_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "guard") && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// A file with nothing in it (only comments and blank lines): a policy commented out, or never
/// written; compiled, it would be a guard that lets every request through.
fn empty_files(parsed: &[(FileId, &PathBuf, ast::File)]) -> Vec<Diag> {
    let mut diags = Vec::new();
    for (id, path, file) in parsed {
        if file.items.is_empty() {
            diags.push(
                Diag::new(
                    Code::NoPolicy,
                    format!("`{}` defines no policy and no judge", path.display()),
                )
                .at(Span::new(*id, 0..0), "nothing but comments and blank lines")
                .help(
                    "write a `policy \"NAME\" { match host \"...\" ... }`, or delete the file: \
                     a guard without policies lets every request through",
                ),
            );
        }
    }
    diags
}

/// Files that together define no policy, only judges: a guard that never looks at a request.
/// Reported only when nothing else is, so a judge file checked on its own while it is being
/// fixed shows its own problems first.
fn judges_only(files: &[&ast::File]) -> Option<Diag> {
    let items = || files.iter().flat_map(|file| &file.items);
    if items().any(|item| matches!(item, ast::Item::Policy(_))) {
        return None;
    }
    let judge = items().find_map(|item| match item {
        ast::Item::Judge(judge) => Some(judge),
        ast::Item::Policy(_) => None,
    })?;
    Some(
        Diag::new(
            Code::NoPolicy,
            "the files compiled together define no policy, only judges",
        )
        .at(
            judge.name.span,
            "a judge is only asked by a policy's `escalate` rule",
        )
        .help(
            "compile the judges with the files whose policies use them (name their directory, \
             or every file); a guard without policies lets every request through",
        ),
    )
}

/// The pipeline over sources that were read; `diags` holds problems found while reading.
fn run(
    inputs: Vec<(PathBuf, String)>,
    mut diags: Vec<Diag>,
    options: &guard_engine::CompileOptions,
) -> Result<Compilation, Diagnostics> {
    let sources: Vec<SourceFile> = inputs
        .iter()
        .map(|(path, text)| SourceFile::new(path.display().to_string(), Arc::from(text.as_str())))
        .collect();

    let mut parsed = Vec::new();
    let mut complete = true;
    for (id, (path, text)) in inputs.iter().enumerate() {
        let (file, errors) = parse::parse_file(id, text);
        diags.extend(errors);
        match file {
            Some(file) => parsed.push((id, path, file)),
            None => complete = false,
        }
    }

    let asts: Vec<&ast::File> = parsed.iter().map(|(_, _, f)| f).collect();
    diags.extend(empty_files(&parsed));
    diags.extend(check::check(&asts, complete));

    let units: Vec<load::Unit<'_>> = parsed
        .iter()
        .map(|(_, path, file)| load::Unit {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ast: file,
        })
        .collect();
    let loaded = load::load(&units, &mut diags);

    let lowered = lower::lower(&asts, &loaded, &mut diags);

    if diags.is_empty() {
        diags.extend(judges_only(&asts));
    }
    if !diags.is_empty() {
        return Err(Diagnostics::new(sources, diags));
    }
    let compiled = match lower::compile(&lowered, options) {
        Ok(compiled) => compiled,
        Err(errors) => return Err(Diagnostics::new(sources, errors)),
    };
    let pattern_spans = lowered.pattern_spans();
    // In file order: the first use shown is the first one written.
    let mut secret_uses = lowered.secrets.clone();
    secret_uses.sort_by_key(|(_, span)| *span);
    let rules = lowered
        .rules
        .iter()
        .map(|(policy, rule, span)| {
            let (line, column) = sources
                .get(span.file)
                .map_or((0, 0), |s| s.line_col(span.start));
            RuleSource {
                policy: policy.clone(),
                rule: rule.clone(),
                file: inputs
                    .get(span.file)
                    .map(|(p, _)| p.clone())
                    .unwrap_or_default(),
                line,
                column,
            }
        })
        .collect();
    let program = lowered.program;
    let trees = parsed.into_iter().map(|(_, _, file)| file).collect();
    Ok(Compilation {
        program,
        compiled,
        rules,
        files: inputs.into_iter().map(|(p, _)| p).collect(),
        sources,
        secret_uses,
        asts: trees,
        pattern_spans,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Each diagnostic code an author can meet has a fixture in `testdata/dsl/err/` (path-level
    /// problems are covered by the integration tests instead; `internal` must never happen).
    #[test]
    fn every_code_has_a_fixture() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dsl/err");
        let mut seen = BTreeSet::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "guard"));
        assert!(!files.is_empty(), "no fixtures in {}", dir.display());
        for file in files {
            match compile_paths(
                std::slice::from_ref(&file),
                &guard_engine::CompileOptions::default(),
            ) {
                Ok(_) => panic!("{} compiles", file.display()),
                Err(d) => seen.extend(d.codes()),
            }
        }
        let exempt = [
            Code::NoInput,
            Code::NoSuchFile,
            Code::NoGuardFiles,
            Code::UnreadableFile,
            // Found against what a deployment provides (`guardc check --secrets`), not in a file:
            // guardc/tests/cli.rs covers it.
            Code::MissingSecret,
            Code::Internal,
        ];
        // Lints (warnings, notes) have theirs in `testdata/lint/` (dsl/tests/lint.rs).
        let missing: Vec<&str> = Code::ALL
            .iter()
            .filter(|c| c.severity() == diagnostic::Severity::Error)
            .filter(|c| !exempt.contains(c) && !seen.contains(c))
            .map(|c| c.as_str())
            .collect();
        assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
        assert!(!seen.contains(&Code::Internal));
    }
}
