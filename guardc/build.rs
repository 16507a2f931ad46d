//! Builds the guard filter (`filter/`) for wasm32-unknown-unknown and puts it in `OUT_DIR`, where
//! `src/plugin.rs` includes it: guardc carries the filter, so `guardc build` needs no Rust
//! toolchain on the policy author's machine.
//!
//! `GUARD_FILTER_WASM=/path/to/guard_filter.wasm` skips the build and takes that file instead
//! (CI with a prebuilt filter, offline builds). A relative path is taken from the workspace root.
//!
//! The nested cargo uses its own target directory (`<target>/filter-wasm`), so it never waits on
//! the lock the outer cargo holds on its build directory, and a clean environment, so the outer
//! build's flags (coverage instrumentation, clippy's wrapper, a host `--target`) do not leak into
//! the Wasm build. It shares the outer cargo's jobserver, so `-j` still bounds the whole build.
//!
//! The module is built with the workspace's `filter` profile: optimised for size but for the
//! crates requests spend their time in, and without its `name` section (the function names are
//! 90 KB that no host reads); `plugin.wasm` must stay under 1 MiB. A trap's backtrace in Envoy's
//! log then shows code offsets, which a build of the same commit with
//! `cargo build --profile filter --config profile.filter.strip=false` names.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const TARGET: &str = "wasm32-unknown-unknown";
const WASM: &str = "guard_filter.wasm";
/// The workspace's profile for the deployed filter (sized for the 1 MiB module budget, without
/// its `name` section; see Cargo.toml).
const PROFILE: &str = "filter";

fn main() {
    println!("cargo:rerun-if-env-changed=GUARD_FILTER_WASM");
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| fail("CARGO_MANIFEST_DIR is not set")),
    );
    let root = manifest_dir
        .parent()
        .unwrap_or_else(|| fail("guardc has no parent directory"))
        .to_path_buf();
    let dest = out_dir.join(WASM);

    if let Some(prebuilt) = env::var_os("GUARD_FILTER_WASM").filter(|p| !p.is_empty()) {
        let prebuilt = root.join(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        copy(&prebuilt, &dest, "GUARD_FILTER_WASM");
        return;
    }

    for path in [
        "filter/src",
        "filter/Cargo.toml",
        "engine/src",
        "engine/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    if let Err(message) = check_target() {
        // guardc still checks, compiles and tests policies without the filter; only `guardc
        // build` needs it, and says so (plugin::FilterMissing). An empty file marks the gap.
        println!("cargo:warning={message}; `guardc build` will not work in this build");
        if let Err(e) = std::fs::write(&dest, b"") {
            fail(&format!("cannot write {}: {e}", dest.display()));
        }
        return;
    }

    let target_dir = filter_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args([
            "--package",
            "guard-filter",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for (key, _) in env::vars_os() {
        if let Some(key) = key.to_str() {
            if leaks_into_nested_build(key) {
                command.env_remove(key);
            }
        }
    }
    let output = command.output().unwrap_or_else(|e| {
        fail(&format!(
            "could not run cargo to build the guard filter: {e}"
        ))
    });
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!(
            "building the guard filter for {TARGET} failed ({}); the output is above",
            output.status
        ));
    }
    copy(
        &target_dir.join(TARGET).join(PROFILE).join(WASM),
        &dest,
        "the filter build",
    );
}

/// Variables through which the outer build would change the nested one. Cargo's own settings
/// for registries, the network and the terminal pass through; so does the jobserver.
fn leaks_into_nested_build(key: &str) -> bool {
    const KEEP: [&str; 7] = [
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    let cargo_setting = key.starts_with("CARGO_") || key.starts_with("__CARGO");
    // GUARD_FILTER_PROBE makes a benchmark build that skips part of every request (see the
    // filter's `probe`): never the filter guardc carries.
    let rust_flags = matches!(
        key,
        "RUSTFLAGS"
            | "RUSTDOCFLAGS"
            | "RUSTC_WORKSPACE_WRAPPER"
            | "LLVM_PROFILE_FILE"
            | "GUARD_FILTER_PROBE"
    );
    (cargo_setting && !KEEP.iter().any(|keep| key.starts_with(keep))) || rust_flags
}

/// `<target>/filter-wasm`: the target directory is the ancestor of OUT_DIR that cargo marks with
/// CACHEDIR.TAG; shared by debug and release builds of guardc, separate from their locks.
fn filter_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map_or_else(
            || out_dir.join("filter-wasm"),
            |target| target.join("filter-wasm"),
        )
}

fn check_target() -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    // Rerun when the target's standard library appears or changes: a guardc built before
    // `rustup target add` (the README's first command on a fresh machine) must not keep its
    // empty filter after scripts/setup installed the target. A path that does not exist yet
    // makes cargo rerun this script on every build, which costs one rustc call.
    if let Some(dir) = &libdir {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    if libdir.is_some_and(|dir| dir.is_dir()) {
        Ok(())
    } else {
        Err(format!(
            "the Rust target {TARGET} is not installed, so guardc carries no guard filter. \
             Run scripts/setup (or `rustup target add {TARGET}`), or set GUARD_FILTER_WASM to a prebuilt guard_filter.wasm"
        ))
    }
}

fn copy(from: &Path, to: &Path, what: &str) {
    if let Err(e) = std::fs::copy(from, to) {
        fail(&format!(
            "{what}: cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    println!("cargo:warning={message}");
    exit(1)
}
