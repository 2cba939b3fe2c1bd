#!/usr/bin/env python3
"""Normalise text for word counting: one output line per input line that has a word.

Rules, applied to each input line (lines end at "\\n"):
  1. Decoding: UTF-8; a line that is not valid UTF-8 is decoded as Windows-1252 instead
     (bytes undefined there become U+FFFD, which is not a letter).
  2. Unicode NFC, then str.lower().
  3. U+2019 (right single quotation mark) becomes an ASCII apostrophe.
  4. A word is a maximal run of letters and digits (str.isalnum(); underscore is not one)
     that may contain single apostrophes *between* two such characters: "king's" stays one
     word, while "sons'" loses its trailing apostrophe and "'tis" its leading one.
  5. The output line is the words joined by single spaces, ended by "\\n"; every other
     character (punctuation, symbols, whitespace including "\\r", an apostrophe that is not
     between two letters or digits) only separates words.
  6. Lines with no word are dropped.

Reads the files given as arguments (or standard input) and writes UTF-8 to standard output.
"""

import re
import sys
import unicodedata

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def normalize_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line).lower().replace("\u2019", "'")
    return " ".join(WORD.findall(line))


def normalize(stream, out) -> None:
    for raw in stream:
        words = normalize_line(decode(raw))
        if words:
            out.write(words.encode("utf-8"))
            out.write(b"\n")


def main(paths: list[str]) -> int:
    out = sys.stdout.buffer
    if not paths:
        normalize(sys.stdin.buffer, out)
    for path in paths:
        with open(path, "rb") as stream:
            normalize(stream, out)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
