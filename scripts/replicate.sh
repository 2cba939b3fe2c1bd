#!/usr/bin/env bash
# Usage: replicate.sh IN OUT SIZE
#
# Writes OUT as whole copies of IN followed by the longest run of IN's first lines that fits, so
# that OUT is at most SIZE bytes and ends at a line boundary. SIZE is a byte count, optionally
# with a binary suffix understood by `numfmt --from=iec` (64M = 64 MiB, 2G = 2 GiB).
# IN must be non-empty and end with a newline (copies would otherwise glue two lines together).
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 IN OUT SIZE" >&2
    exit 2
fi
in=$1
out=$2
size=$(numfmt --from=iec "$3")

in_bytes=$(stat -c %s "$in")
if [[ $in_bytes -eq 0 ]]; then
    echo "$0: $in is empty" >&2
    exit 1
fi
if [[ $(tail -c 1 "$in" | od -An -tx1 | tr -d ' ') != "0a" ]]; then
    echo "$0: $in does not end with a newline" >&2
    exit 1
fi

copies=$((size / in_bytes))
rest=$((size % in_bytes))
# Whole lines among IN's first `rest` bytes: as many lines as newlines in that prefix.
rest_lines=$(head -c "$rest" "$in" | wc -l)

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
    for ((i = 0; i < copies; i++)); do
        cat "$in"
    done
    if [[ $rest_lines -gt 0 ]]; then
        head -n "$rest_lines" "$in"
    fi
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out: $(stat -c %s "$out") bytes ($copies copies of $in + $rest_lines lines)"
