//! Parsing: source text → [`ast::File`]. pest does the grammar (`grammar.pest`); `tree` builds
//! the syntax tree from its pairs, `strings` decodes string literals on the way, and
//! `syntax_error` turns pest's errors into readable diagnostics.
//!
//! pest stops at the first syntax error of a file; that error is reported and the file has no
//! tree. String problems (unknown escapes, bad `\u`) are not syntax errors: the string is decoded
//! as well as possible and the file's tree is still built and checked.

mod strings;
mod syntax_error;
mod tree;

use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::{self, FileId};
use crate::diagnostic::{Code, Diag};

pub(crate) use strings::{decode_plain, decode_triple};

#[derive(pest_derive::Parser, Debug)]
#[grammar = "grammar.pest"]
pub(crate) struct GuardParser;

/// Parses one file. `None` when the file has a syntax error; string errors come with a tree.
pub(crate) fn parse_file(file: FileId, text: &str) -> (Option<ast::File>, Vec<Diag>) {
    match GuardParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let (tree, diags) = tree::file(file, pairs.next());
            (Some(tree), diags)
        }
        Err(err) => (None, vec![syntax_error::syntax_error(file, text, &err)]),
    }
}

/// The grammar's tree of one file (its `file` pair), or the syntax error `check` reports for it;
/// for tools that work on the text as written (`format`).
pub(crate) fn parse_syntax(file: FileId, text: &str) -> Result<Pair<'_, Rule>, Vec<Diag>> {
    match GuardParser::parse(Rule::file, text) {
        Ok(mut pairs) => pairs.next().ok_or_else(|| {
            vec![
                Diag::new(Code::Internal, "internal error: the grammar gave no tree")
                    .help("this is a bug in guard; please report it with this file"),
            ]
        }),
        Err(err) => Err(vec![syntax_error::syntax_error(file, text, &err)]),
    }
}
