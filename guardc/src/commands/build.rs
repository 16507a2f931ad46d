//! `guardc build`: `DIR/plugin.wasm` with the policies inside, its OCI image layout and the Istio
//! manifests that deploy it.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::PolicyArgs;
use super::compilation::compile;
use super::size_report::size_report;
use crate::{manifests, oci, plugin};

/// `guardc build PATHS... -o DIR`, with the deployment's options.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The output directory.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub deploy: manifests::DeployArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Embed the policies into this filter module instead of the one guardc carries: a build of
    /// the same commit with function names (readable trap backtraces) or a benchmark probe build
    /// (BENCHMARKS.md). It must be the guard filter, with no bundle in it yet.
    #[arg(long, value_name = "WASM", hide = true)]
    pub filter: Option<PathBuf>,
}

/// Success once the module, the image layout and the manifests are written; failure otherwise.
pub fn run(args: &BuildArgs) -> ExitCode {
    let c = match compile(&args.paths, &args.policy) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let output = &args.output;
    let filter = match &args.filter {
        Some(path) => match std::fs::read(path) {
            Ok(module) => Some(module),
            Err(err) => {
                eprintln!("error: cannot read `{}`: {err}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let embedded = match &filter {
        Some(module) => plugin::embed_into(module, &c.compiled.bytes),
        None => plugin::embed(&c.compiled.bytes),
    };
    let wasm = match embedded {
        Ok(wasm) => wasm,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Read the bundle back out of the module: what ships is what was compiled.
    if !matches!(plugin::embedded_bundle(&wasm), Ok(Some(b)) if b == c.compiled.bytes.as_slice()) {
        eprintln!("error: the bundle read back from plugin.wasm differs from the compiled one");
        return ExitCode::FAILURE;
    }
    let written = std::fs::create_dir_all(output)
        .and_then(|()| std::fs::write(output.join(oci::WASM_FILE), &wasm));
    if let Err(err) = written {
        eprintln!("error: cannot write `{}`: {err}", output.display());
        return ExitCode::FAILURE;
    }
    print!("{}", size_report(&c));
    println!(
        "plugin.wasm: {} bytes (filter {} + bundle {})",
        wasm.len(),
        filter.as_deref().unwrap_or(plugin::filter_wasm()).len(),
        c.compiled.bytes.len()
    );
    match manifests::write_deployment(output, &wasm, &c.program, &args.deploy) {
        Ok(deployment) => {
            print!("{deployment}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
