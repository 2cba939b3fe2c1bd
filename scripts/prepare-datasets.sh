#!/usr/bin/env bash
# Builds the word-count corpora from Debian packages; safe to run again (it only does what is
# missing). See datasets/README.md for provenance, licences and the normalisation rules.
#
#   datasets/kjv.txt          King James Bible, one verse per line (committed; rebuilt only if
#                             missing, otherwise checked against datasets/kjv.txt.sha256)
#   datasets/large/gcide.txt  GNU Collaborative International Dictionary of English (GPL-2+,
#                             about 30 MB: not committed, datasets/large/ is git-ignored)
#
# Needs bash, coreutils, python3 and, for missing packages, apt-get (run as root or with sudo).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
datasets=$(dirname "$here")/datasets
normalize=$here/normalize_text.py

# Installs a Debian package unless it is already installed.
ensure_package() {
    local package=$1
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        return
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "installing $package needs root" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "installing Debian package $package" >&2
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$package"; then
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$package"
    fi
}

# build OUT COMMAND...: runs COMMAND into a temporary file and renames it to OUT only if every
# part of COMMAND succeeded, so a failed or interrupted run leaves no partial corpus behind.
tmp=
trap 'if [[ -n $tmp ]]; then rm -f "$tmp"; fi' EXIT
build() {
    local out=$1
    shift
    tmp="$out.tmp.$$"
    "$@" >"$tmp"
    mv "$tmp" "$out"
    tmp=
}

kjv_text() {
    bible -p /usr/lib -f gen1:1-rev22:21 | cut -d' ' -f2- | python3 "$normalize"
}

gcide_text() {
    zcat /usr/share/dictd/gcide.dict.dz | python3 "$normalize"
}

# King James Bible: the `bible` tool of bible-kjv prints the whole text, one verse per line
# prefixed by its reference ("Ge1:1 In the beginning ..."), when pretty-printing is off (-f).
# -p /usr/lib points it at the packaged data (by default it looks in the current directory first).
if [[ -f $datasets/kjv.txt ]]; then
    (cd "$datasets" && sha256sum --check --quiet kjv.txt.sha256)
    echo "datasets/kjv.txt present and verified" >&2
else
    ensure_package bible-kjv
    build "$datasets/kjv.txt" kjv_text
    if [[ -f $datasets/kjv.txt.sha256 ]]; then
        # Another bible-kjv version may give other text: say so rather than ship it silently.
        (cd "$datasets" && sha256sum --check --quiet kjv.txt.sha256) || {
            echo "rebuilt datasets/kjv.txt does not match kjv.txt.sha256 (bible-kjv version?)" >&2
            exit 1
        }
    else
        (cd "$datasets" && sha256sum kjv.txt >kjv.txt.sha256)
    fi
    echo "built datasets/kjv.txt" >&2
fi

# GCIDE: the dictd database of dict-gcide, decompressed (dictzip is gzip-compatible), whole,
# including its short 00-database-* metadata entries.
mkdir -p "$datasets/large"
if [[ -f $datasets/large/gcide.txt ]]; then
    echo "datasets/large/gcide.txt present" >&2
else
    ensure_package dict-gcide
    build "$datasets/large/gcide.txt" gcide_text
    echo "built datasets/large/gcide.txt" >&2
fi
