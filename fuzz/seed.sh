#!/usr/bin/env bash
# Seeds the fuzz corpora from the repository's fixtures: writes fuzz/corpus/<target>/seed-*.
#
#   bundle_load   testdata/wire/golden.bundle, and bundles compiled from policies/dashscope.guard,
#                 two of testdata/dsl/ok/ and a tiny two-rule policy (guardc compile)
#   request_eval  testdata/extract/* and the bodies of policies/tests/**/*.http and
#                 testdata/evasion/**/*.http, each behind the selector byte the target reads first
#                 (content type, encoding, policy), plus a gzip and a deflate copy of one body
#   extract_body  the request_eval seeds without a Content-Encoding, their selector byte rewritten
#                 to extract_body's content types (0 none, 1 json, 2 text, 5 form-urlencoded)
#   dsl_parse     testdata/dsl/**/*.guard and policies/*.guard
#
# Only seed-* files are committed (fuzz/.gitignore); libFuzzer names what it adds by SHA-1.
# Rerun after a fixture or FORMAT_VERSION change. GUARDC=/path/to/guardc skips `cargo run`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$root/fuzz/corpus
mkdir -p "$corpus/bundle_load" "$corpus/request_eval" "$corpus/extract_body" "$corpus/dsl_parse" "$corpus/answer_stream"
rm -f "$corpus"/*/seed-*

guardc() {
    if [[ -n "${GUARDC:-}" ]]; then
        "$GUARDC" "$@"
    else
        cargo run -q --manifest-path "$root/Cargo.toml" -p guardc -- "$@"
    fi
}

# --- bundle_load ---------------------------------------------------------------------------
out=$corpus/bundle_load
cp "$root/testdata/wire/golden.bundle" "$out/seed-golden.bundle"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/tiny.guard" <<'EOF'
policy "t" {
    match host "a.example"
    rule "k" {
        deny keyword "ab", "Cd"
        ignore case
    }
    rule "r" {
        deny regex "x[0-9]y"
        normalize off
    }
}
EOF
for src in "$tmp/tiny.guard" "$root/policies/dashscope.guard" \
    "$root/testdata/dsl/ok/hosts_and_headers.guard" "$root/testdata/dsl/ok/judge_prompt.guard"; do
    name=$(basename "$src" .guard)
    guardc compile "$src" -o "$out/seed-$name.bundle" >/dev/null
done

# --- request_eval --------------------------------------------------------------------------
# Selector byte (fuzz_targets/request_eval.rs): bits 0-1 content type (0 none, 1 application/json,
# 2 text/plain, 3 form-urlencoded), bits 2-4 encoding (0 none, 1 gzip, 2 deflate, 3 br,
# 4 "gzip, gzip", ...), bit 5 policy (0 policies/dashscope.guard, 1 testdata/evasion/evasion.guard).
out=$corpus/request_eval
with_selector() { # selector (0-255) file-or-stdin output
    { printf "\\$(printf '%03o' "$1")"; cat "${2:--}"; } >"$3"
}
for f in "$root"/testdata/extract/*; do
    name=$(basename "$f")
    case "$name" in
        *.json) sel=1 ;;
        *.txt) sel=2 ;;
        *) continue ;;
    esac
    with_selector "$sel" "$f" "$out/seed-extract-$name"
done
http_seeds() { # directory policy-bit prefix
    # Not the gzip bomb, nor the multi-megabyte bodies of size-limit/: inflating or scanning 8 MiB
    # on every mutation would starve the rest (the bounds are unit and end-to-end tests).
    find "$1" -name '*.http' ! -name 'gzip-bomb.http' ! -path '*/size-limit/*' | sort | while read -r f; do
        header() { awk -v h="$1" 'NR>1 && /^$/ {exit} tolower($0) ~ "^" h ":" {sub(/^[^:]*:[ \t]*/, ""); print tolower($0)}' "$f"; }
        case "$(header content-type)" in
            application/json*) ct=1 ;;
            text/plain*) ct=2 ;;
            "") ct=0 ;;
            *) ct=3 ;;
        esac
        case "$(header content-encoding)" in
            "") enc=0 ;;
            gzip) enc=1 ;;
            deflate) enc=2 ;;
            br) enc=3 ;;
            "gzip, gzip") enc=4 ;;
            *) continue ;;
        esac
        # The body is everything after the first blank line, or the file a `< FILE` line names.
        awk 'found {print} /^$/ && !found {found=1}' "$f" >"$tmp/body"
        if read -r first <"$tmp/body" && [[ "$first" == "< "* ]]; then
            cp "$(dirname "$f")/${first#< }" "$tmp/body"
        fi
        [[ -s "$tmp/body" ]] || continue
        rel=${f#"$1"/}
        with_selector $((ct | enc << 2 | $2 << 5)) "$tmp/body" "$out/seed-$3-${rel//\//_}"
    done
}
http_seeds "$root/policies/tests" 0 http
http_seeds "$root/testdata/evasion" 1 evasion
body=$root/testdata/extract/openai_chat_array_parts.json
gzip -c -n "$body" | with_selector $((1 | 1 << 2)) - "$out/seed-gzip-openai_chat_array_parts"
python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' \
    <"$body" | with_selector $((1 | 2 << 2)) - "$out/seed-deflate-openai_chat_array_parts"

# --- extract_body --------------------------------------------------------------------------
python3 - "$corpus/request_eval" "$corpus/extract_body" <<'PY'
import pathlib, sys
src, out = map(pathlib.Path, sys.argv[1:])
for seed in sorted(src.glob("seed-*")):
    data = seed.read_bytes()
    if not data or (data[0] >> 2) & 7:
        continue  # encoded bodies are request_eval's
    ct = {0: 0, 1: 1, 2: 2, 3: 5}[data[0] & 3]
    (out / seed.name).write_bytes(bytes([ct]) + data[1:])
PY

# --- dsl_parse -----------------------------------------------------------------------------
out=$corpus/dsl_parse
find "$root/testdata/dsl" "$root/policies" -maxdepth 3 -name '*.guard' | sort | while read -r f; do
    rel=${f#"$root"/}
    cp "$f" "$out/seed-${rel//\//_}"
done

# --- answer_stream -------------------------------------------------------------------------
# Selector byte (fuzz_targets/answer_stream.rs): bit 7 the policy (0 deny only, 1 with a mask),
# bits 0-6 the chunk size minus one. Each transcript with both policies, in 8-byte chunks.
out=$corpus/answer_stream
find "$root/testdata/streams" "$root/policies/tests" -name '*.sse' | sort | while read -r f; do
    rel=${f#"$root"/}
    for selector in 07 87; do
        { printf "\x$selector"; cat "$f"; } > "$out/seed-$selector-${rel//\//_}"
    done
done

for t in bundle_load request_eval extract_body dsl_parse answer_stream; do
    echo "$t: $(ls "$corpus/$t" | grep -c '^seed-') seeds"
done
