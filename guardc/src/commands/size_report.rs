//! What a compilation weighs, as `compile` and `build` print it: each DFA group, each screen, the
//! keywords and the bundle.

use guard_dsl::Compilation;

pub(crate) fn size_report(c: &Compilation) -> String {
    let mut out = String::new();
    let program = &c.program;
    for group in &c.compiled.groups {
        let policy = program.policies.get(group.policy);
        let rule = policy.and_then(|p| p.rules.get(group.rule));
        let shape = if group.anchored {
            format!(
                "anchored {} bytes (run at candidate positions)",
                group.forward_bytes
            )
        } else {
            format!(
                "forward {} bytes, reverse {} bytes",
                group.forward_bytes, group.reverse_bytes
            )
        };
        out.push_str(&format!(
            "dfa  {}/{}: {} pattern{}, {shape}\n",
            policy.map_or("?", |p| p.name.as_str()),
            rule.map_or("?", |r| r.id.as_str()),
            group.patterns,
            if group.patterns == 1 { "" } else { "s" },
        ));
    }
    for screen in &c.compiled.screens {
        let policy = program.policies.get(screen.policy);
        let how = if screen.dfa_bytes == 0 {
            format!("{} literals in the keyword pass", screen.literals)
        } else {
            format!("a screen DFA of {} bytes", screen.dfa_bytes)
        };
        out.push_str(&format!(
            "screen {} ({} text): {} pattern{} by {how}\n",
            policy.map_or("?", |p| p.name.as_str()),
            if screen.normalized {
                "normalised"
            } else {
                "sent"
            },
            screen.patterns,
            if screen.patterns == 1 { "" } else { "s" },
        ));
    }
    out.push_str(&format!(
        "keywords: {} (Aho-Corasick, built on load)\nbundle: {} bytes, sha256 {}\n",
        c.compiled.keywords,
        c.compiled.bytes.len(),
        c.compiled.digest()
    ));
    out
}
