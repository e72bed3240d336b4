#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Write a C source file that defines NAME as a NUL-terminated copy of FILE.
# usage: embed-file.sh [--compact-xml] NAME FILE
# --compact-xml leaves out XML comments and the whitespace between tags: each
# helper compiles the embedded RelaxNG schema, and that text is half comments.
set -eu
compact=no
if [ "$1" = --compact-xml ]; then
    compact=yes
    shift
fi
name=$1
file=$2
content() {
    if [ $compact = yes ]; then
        perl -0777 -pe 's/<!--.*?-->//gs; s/>\s+</></g' "$file"
    else
        cat "$file"
    fi
}
printf '/* Generated from %s by embed-file.sh; do not edit. */\n' "$(basename "$file")"
printf '#include <stddef.h>\n'
printf 'const char %s[] = {\n' "$name"
content | od -An -v -tx1 | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1, /g' -e 's/, $/,/'
printf '0x00 };\n'
printf 'const size_t %s_len = sizeof(%s) - 1;\n' "$name" "$name"
