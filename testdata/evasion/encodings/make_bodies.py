#!/usr/bin/env python3
"""Writes the binary bodies of testdata/evasion/encodings/, byte for byte reproducibly.

JSON in UTF-16 and UTF-32, with and without a byte-order mark, as Python upstreams decode it
(`json.loads` on bytes detects the encoding from the BOM or the NUL pattern); a lone surrogate;
text with NUL bytes.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAT = '{"model": "qwen-plus", "messages": [{"role": "user", "content": "我的QQ账号是1111"}]}'
GEMINI = '{"contents": [{"parts": [{"text": "Project Nightingale roadmap"}]}]}'

BODIES = {
    "utf16be-no-bom.json.bin": CHAT.encode("utf-16-be"),
    "utf16le-no-bom.json.bin": CHAT.encode("utf-16-le"),
    "utf32be-no-bom.json.bin": CHAT.encode("utf-32-be"),
    "utf32le-no-bom.json.bin": CHAT.encode("utf-32-le"),
    "utf16-bom.json.bin": CHAT.encode("utf-16"),  # little-endian with its BOM
    "utf16be-bom-gemini.json.bin": b"\xfe\xff" + GEMINI.encode("utf-16-be"),
    "utf16le-leading-space.json.bin": ("  \n" + GEMINI).encode("utf-16-le"),
    "utf16le-lone-surrogate.json.bin": '{"prompt": "'.encode("utf-16-le") + b"\x00\xd8" + '"}'.encode("utf-16-le"),
    "nul-inside-keyword.txt.bin": "my 账\0号 is 1111".encode("utf-8"),
    "nul-after-json.json.bin": b'{"prompt": "hi"}\x00',
}

for name, data in BODIES.items():
    (HERE / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")
