#!/usr/bin/env python3
"""Writes the binary and large request bodies of the evasion corpus (the `< FILE` bodies of
hostile/, benign/ and size-limit/). The output is byte-for-byte reproducible (gzip with mtime=0),
so rerunning this leaves `git status` clean; run it from anywhere:
python3 testdata/evasion/make_bodies.py"""

import gzip
import json
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def chat(text):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return json.dumps(body, ensure_ascii=False).encode()


keyword = chat("Status of project nightingale?")

# Not UTF-8: a lone 0xFF, and an overlong two-byte encoding of "/" (0xC1 0xAF).
open_string = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "'
close_string = b'"}]}'
write("hostile", "invalid-utf8.json.bin", open_string + b"Status of project \xff nightingale?" + close_string)
write("hostile", "overlong-utf8.json.bin", open_string + b"project\xc1\xafnightingale" + close_string)

write("hostile", "gzip-keyword.json.gz", gz(keyword))
write("hostile", "deflate-keyword.json.zz", zlib.compress(keyword, 9))
raw = zlib.compressobj(9, zlib.DEFLATED, -15)
write("hostile", "raw-deflate-keyword.json.deflate", raw.compress(keyword) + raw.flush())
write("hostile", "gzip-twice-keyword.json.gz.gz", gz(gz(keyword)))
# Two members: an empty one, then the body. Every multi-member decoder reads both.
write("hostile", "gzip-empty-first-member.json.gz", gz(b"") + gz(keyword))
write("hostile", "gzip-trailing-garbage.json.gz", gz(chat("hi")) + b"project nightingale")
# The CRC-32 in the trailer altered: the deflate data decodes, the checksum does not match.
good = bytearray(gz(keyword))
good[-8] ^= 0xFF
write("hostile", "gzip-corrupt.json.gz", bytes(good))
# 9.5 MiB of spaces inside a JSON string, about 10 KB compressed; the decoded limit is 8 MiB.
bomb = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "' + b" " * (19 << 19) + b'"}]}'
write("hostile", "gzip-bomb.json.gz", gz(bomb))

write("benign", "gzip-benign.json.gz", gz(chat("Write a haiku about nightingales.")))

# size-limit/: bodies past Envoy's default 1 MiB buffer and at and past guard's 8 MiB limit
# (engine DEFAULT_MAX_BODY_BYTES). Repetitive text, so git stores them in a few kilobytes.
MIB = 1 << 20
LIMIT = 8 * MIB


def chat_of_size(size, text_end=""):
    """A chat body of exactly `size` bytes: filler words, then `text_end`, in one user message."""
    shell = chat("" + text_end)
    filler = b"lorem ipsum " * (size // 12 + 1)
    pad = size - len(shell)
    body = chat(filler[:pad].decode() + text_end)
    assert len(body) == size, (len(body), size)
    return body


write("size-limit", "benign-2-mib.json", chat_of_size(2 * MIB))
write("size-limit", "keyword-after-2-mib.json", chat_of_size(2 * MIB + 100, " project nightingale"))
write("size-limit", "at-the-limit.json", chat_of_size(LIMIT))
write("size-limit", "one-byte-over-the-limit.json", chat_of_size(LIMIT + 1))
