#!/bin/sh
# Write a C source file that defines NAME as a NUL-terminated copy of FILE.
# usage: embed-file.sh NAME FILE
set -eu
name=$1
file=$2
printf '/* Generated from %s by embed-file.sh; do not edit. */\n' "$(basename "$file")"
printf '#include <stddef.h>\n'
printf 'const char %s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1, /g' -e 's/, $/,/'
printf '0x00 };\n'
printf 'const size_t %s_len = sizeof(%s) - 1;\n' "$name" "$name"
