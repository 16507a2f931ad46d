//! Helpers shared by the policy tests.

use std::path::Path;

/// The program the DSL lowers a `.guard` file into; panics with the diagnostics if it does not
/// compile.
pub fn dsl_program(path: &Path) -> guard_engine::ir::Program {
    match guard_dsl::compile_paths(
        &[path.to_path_buf()],
        &guard_engine::CompileOptions::default(),
    ) {
        Ok(c) => c.program,
        Err(d) => panic!("{}: {d:?}", path.display()),
    }
}
