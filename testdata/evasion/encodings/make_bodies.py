#!/usr/bin/env python3
"""Writes the binary bodies of testdata/evasion/encodings/, byte for byte reproducibly.

JSON in UTF-16 and UTF-32, with and without a byte-order mark, as Python upstreams decode it
(`json.loads` on bytes detects the encoding from the BOM or the NUL pattern); a lone surrogate;
text with NUL bytes; multipart/form-data uploads (a Batch API JSONL file, an audio file, parts in
base64 and quoted-printable transfer encodings, an unclosed body, an image that is not one).
"""

import base64
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


def multipart(*parts: tuple[str, bytes]) -> bytes:
    """A multipart/form-data body with boundary `guardBOUNDARY` and CRLF line ends."""
    out = b""
    for headers, body in parts:
        out += b"--guardBOUNDARY\r\n" + headers.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--guardBOUNDARY--\r\n"


BATCH_LINE = '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "my \\u8d26\\u53f7 is 1111"}]}}'
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x04\x00\x00\x00\xff\xfe\x80\x81"
BODIES.update({
    "multipart-batch.bin": multipart(
        ('Content-Disposition: form-data; name="purpose"', b"batch"),
        ('Content-Disposition: form-data; name="file"; filename="batch.jsonl"\nContent-Type: application/octet-stream', BATCH_LINE.encode() + b"\n"),
    ),
    "multipart-transcription.bin": multipart(
        ('Content-Disposition: form-data; name="file"; filename="call.wav"\nContent-Type: audio/wav', WAV),
        ('Content-Disposition: form-data; name="model"', b"whisper-1"),
        ('Content-Disposition: form-data; name="prompt"', b"A call about the weekly standup."),
    ),
    "multipart-base64-part.bin": multipart(
        ('Content-Disposition: form-data; name="prompt"\nContent-Transfer-Encoding: base64', base64.b64encode("我的账号是1111".encode())),
    ),
    "multipart-quoted-printable-part.bin": multipart(
        ('Content-Disposition: form-data; name="prompt"\nContent-Transfer-Encoding: quoted-printable', b"my =E8=B4=A6=E5=8F=B7 is 1111"),
    ),
    "multipart-unclosed.bin": b"--guardBOUNDARY\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhello\r\n",
    "multipart-image-not-its-type.bin": multipart(
        ('Content-Disposition: form-data; name="image"; filename="a.png"\nContent-Type: image/png', b"\xff\xfe\x00\x81\x90\xa0"),
        ('Content-Disposition: form-data; name="prompt"', b"make it blue"),
    ),
})

for name, data in BODIES.items():
    (HERE / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")
