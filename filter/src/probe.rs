//! Benchmark probes: a build of the filter with `GUARD_FILTER_PROBE=NAME` set at compile time
//! skips one stage of every request, so `bench/envoy-load.py --probe-builds` can price that stage
//! inside Envoy by the difference (BENCHMARKS.md). Such a build is not a guard: it logs so at
//! every configuration, and guardc's build script never passes the variable to the filter it
//! carries. Unset, as in every deployed build, each check is a constant and folds away.

/// A stage a probe build skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// `bare`: every request passes at its head, untouched (the module and the SDK alone).
    Everything,
    /// `noinspect`: the body is read and approved without extraction or scan.
    Inspection,
    /// `extractonly`: the body is extracted, then approved without a decision.
    Decision,
    /// `notelemetry`: no metric is counted and no property set.
    Telemetry,
}

/// The probe this build was made with, if any.
const PROBE: Option<&str> = option_env!("GUARD_FILTER_PROBE");

/// Whether this build skips `stage`.
pub(crate) fn skips(stage: Skip) -> bool {
    let name = match stage {
        Skip::Everything => "bare",
        Skip::Inspection => "noinspect",
        Skip::Decision => "extractonly",
        Skip::Telemetry => "notelemetry",
    };
    PROBE == Some(name)
}

/// The warning a probe build logs at every configuration.
pub(crate) fn warning() -> Option<String> {
    PROBE.map(|probe| {
        format!("guard: PROBE BUILD `{probe}`: this filter skips part of every request and is not a guard; benchmarks only")
    })
}
