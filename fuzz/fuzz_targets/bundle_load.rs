//! Any bytes handed to the loader give a ruleset or an error, never a panic; whatever loads
//! evaluates without panicking.
//!
//! Each input is loaded twice: as given, which exercises the header checks, and with the header
//! rewritten around the rest of the input (magic, versions, payload size and CRC-32 made right).
//! Without the second pass nearly every mutation stops at the checksum, and the meta decoding,
//! the reference checks and the DFA validation behind it are never reached.
#![no_main]

use guard_engine::{Decision, JudgeReply, Ruleset, FORMAT_VERSION, REGEX_AUTOMATA_VERSION};
use libfuzzer_sys::fuzz_target;

const HEADER_SIZE: usize = 96;
const MAGIC: [u8; 8] = [0x89, b'G', b'R', b'D', b'\r', b'\n', 0x1a, b'\n'];

const BODIES: [&[u8]; 3] = [
    br#"{"messages":[{"role":"user","content":"13912345678 hello"}]}"#,
    "\u{ff53}ecret plan 账\u{200b}号 x1y ab AIzaSyA0123456789abcdefghijklmnopqrstuv".as_bytes(),
    br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"nothing to see"}]}]}"#,
];

fn with_valid_header(data: &[u8]) -> Option<Vec<u8>> {
    let payload = data.get(HEADER_SIZE..)?;
    let mut bytes = Vec::with_capacity(data.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    let mut stamp = [0u8; 32];
    stamp[..REGEX_AUTOMATA_VERSION.len()].copy_from_slice(REGEX_AUTOMATA_VERSION.as_bytes());
    bytes.extend_from_slice(&stamp);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    // The loader only checks that a digest is there (and covered by the CRC-32), never its value.
    let digest = [0x5au8; 32];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&digest);
    crc.update(payload);
    bytes.extend_from_slice(&crc.finalize().to_le_bytes());
    bytes.extend_from_slice(&[0u8; 4]);
    bytes.extend_from_slice(&digest);
    bytes.extend_from_slice(payload);
    (bytes != data).then_some(bytes)
}

fn exercise(bytes: &[u8]) {
    let Ok(ruleset) = Ruleset::from_bytes(bytes) else {
        return;
    };
    let secrets = ruleset.required_secrets().into_iter().map(|s| (s.to_string(), "k".to_string())).collect();
    for policy in &ruleset.program().policies {
        for host in &policy.hosts {
            let name = match host {
                guard_engine::ir::HostPattern::Exact(h) => h.clone(),
                guard_engine::ir::HostPattern::Subdomains(s) => format!("x{s}"),
            };
            let path = policy.path_prefix.clone().unwrap_or_else(|| "/".into());
            let Some(id) = ruleset.select(&name, &path) else {
                continue;
            };
            let _ = ruleset.headers(&id, &secrets);
            for body in BODIES {
                let _ = ruleset.explain(&id, None, None, body);
                if let Decision::Escalate(mut escalation) = ruleset.inspect(&id, None, body).decision {
                    // Ask every judge; each allows, so the escalation runs to its end.
                    for _ in 0..ruleset.program().judges.len() + 2 {
                        let _ = escalation.next_call(&ruleset, &secrets, 7);
                        let reply = JudgeReply::Response {
                            status: 200,
                            body: br#"{"choices":[{"message":{"content":"{\"result\":\"allow\"}"}}]}"#,
                        };
                        if escalation.settle(&ruleset, reply).is_some() {
                            break;
                        }
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    if let Some(fixed) = with_valid_header(data) {
        exercise(&fixed);
    }
});
