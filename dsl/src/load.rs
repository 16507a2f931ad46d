//! Loading: the files a policy names besides itself, read before lowering so that lowering does
//! no I/O and is a function of the trees and these texts alone.
//!
//! Today that is `deny keyword file "..."`: each path is resolved relative to the directory of the
//! `.guard` file that names it, each resolved file is read once however often it is named, and a
//! file that cannot be read (missing, a directory, unreadable, not UTF-8) is reported at every
//! literal that names it. What the file says (its keywords, whether it has any) is lowering's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ast::{self, RuleStmt, Span, Str};
use crate::diagnostic::{lowercase_first, Code, Diag};

/// A parsed file and where the files it names are looked up.
pub(crate) struct Unit<'a> {
    /// The directory `deny keyword file` paths are relative to.
    pub dir: PathBuf,
    pub ast: &'a ast::File,
}

/// The files every unit names, read.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// By the span of the path literal that names the file; a file that could not be read has no
    /// entry (it was reported).
    keyword_files: BTreeMap<Span, KeywordFile>,
}

/// A keyword file's text, and the path it was read from, as messages show it.
#[derive(Debug, Clone)]
pub(crate) struct KeywordFile {
    pub shown: String,
    pub text: Arc<str>,
}

impl Loaded {
    /// The file a `deny keyword file` literal names, if it was read.
    pub fn keyword_file(&self, path: &Str) -> Option<&KeywordFile> {
        self.keyword_files.get(&path.span)
    }
}

/// Why a file could not be read; kept per resolved path so each literal naming it is told.
#[derive(Debug, Clone)]
enum Failure {
    Missing,
    Directory,
    Io(String),
    /// The 1-based line of the first byte that is not UTF-8.
    NotUtf8(usize),
}

/// Reads the keyword files of every unit, reporting those that cannot be read.
pub(crate) fn load(units: &[Unit<'_>], diags: &mut Vec<Diag>) -> Loaded {
    let mut read: HashMap<PathBuf, Result<Arc<str>, Failure>> = HashMap::new();
    let mut loaded = Loaded::default();
    for unit in units {
        for path in keyword_file_paths(unit.ast) {
            let resolved = unit.dir.join(&path.value);
            let shown = resolved.display().to_string();
            let result = read
                .entry(resolved)
                .or_insert_with_key(|resolved| read_text(resolved));
            match result {
                Ok(text) => {
                    loaded.keyword_files.insert(
                        path.span,
                        KeywordFile {
                            shown,
                            text: Arc::clone(text),
                        },
                    );
                }
                Err(failure) => diags.push(failure_diag(failure, path, &shown)),
            }
        }
    }
    loaded
}

/// Every `deny keyword file` path of a file, in file order.
fn keyword_file_paths(file: &ast::File) -> impl Iterator<Item = &Str> {
    ast::rule_stmts(file.items.iter()).filter_map(|stmt| match stmt {
        RuleStmt::DenyKeywordFile { path, .. } => Some(path),
        _ => None,
    })
}

/// A keyword file is UTF-8 text.
fn read_text(resolved: &Path) -> Result<Arc<str>, Failure> {
    let bytes = match std::fs::read(resolved) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(Failure::Missing),
        Err(_) if resolved.is_dir() => return Err(Failure::Directory),
        Err(err) => return Err(Failure::Io(lowercase_first(&err.to_string()))),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Arc::from(text)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let line = err
                .as_bytes()
                .get(..valid)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                + 1;
            Err(Failure::NotUtf8(line))
        }
    }
}

fn failure_diag(failure: &Failure, path: &Str, shown: &str) -> Diag {
    match failure {
        Failure::Missing => Diag::new(
            Code::MissingKeywordFile,
            format!("keyword file `{}` does not exist", path.value),
        )
        .at(path.span, format!("looked for `{shown}`"))
        .help("the path is relative to the directory of the .guard file"),
        Failure::Directory => Diag::new(
            Code::UnreadableKeywordFile,
            format!("keyword file `{}` is a directory", path.value),
        )
        .at(path.span, format!("`{shown}` is a directory"))
        .help("name a text file with one keyword per line"),
        Failure::Io(error) => Diag::new(
            Code::UnreadableKeywordFile,
            format!("cannot read keyword file `{}`: {error}", path.value),
        )
        .at(path.span, format!("reading `{shown}`")),
        Failure::NotUtf8(line) => Diag::new(
            Code::KeywordFileNotUtf8,
            format!(
                "keyword file `{}` is not valid UTF-8 (line {line})",
                path.value
            ),
        )
        .at(path.span, format!("reading `{shown}`"))
        .help("save the file as UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_file;

    fn load_text(text: &str) -> (Loaded, Vec<Diag>, ast::File) {
        let (file, errors) = parse_file(0, text);
        assert!(errors.is_empty());
        let file = file.expect("the test policy parses");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dsl/ok");
        let mut diags = Vec::new();
        let loaded = load(&[Unit { dir, ast: &file }], &mut diags);
        (loaded, diags, file)
    }

    /// One read per file, one report per literal: a file named twice shares one text, and a
    /// missing one is reported where each literal names it.
    #[test]
    fn a_file_named_twice_is_read_once_and_reported_at_each_literal() {
        let (loaded, diags, file) = load_text(
            r#"policy "p" {
                 rule "a" { deny keyword file "keywords/accounts.txt" deny keyword file "nope.txt" }
                 rule "b" { deny keyword file "keywords/accounts.txt" deny keyword file "nope.txt" }
               }"#,
        );
        let paths: Vec<&Str> = keyword_file_paths(&file).collect();
        let texts: Vec<Option<&KeywordFile>> =
            paths.iter().map(|p| loaded.keyword_file(p)).collect();
        match texts.as_slice() {
            [Some(a), None, Some(b), None] => assert!(Arc::ptr_eq(&a.text, &b.text)),
            other => panic!("unexpected loads: {other:?}"),
        }
        let spans: Vec<Option<Span>> = diags
            .iter()
            .map(|d| d.primary.as_ref().map(|l| l.span))
            .collect();
        let missing: Vec<Option<Span>> =
            [paths[1], paths[3]].iter().map(|p| Some(p.span)).collect();
        assert_eq!(spans, missing);
        assert!(diags.iter().all(|d| d.code == Code::MissingKeywordFile));
    }
}
