#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The man pages must document each program's options exactly as
# shared/options.c defines them, and migphase.conf(5) and the installed
# example etc/migphase.conf exactly the keys the config file accepts:
#   - each program's OPTIONS list (".It Fl -name Ar ARG") is the set of
#     options its --help prints, with the same argument names;
#   - the config keys are found by asking the programs: a key the file does
#     not accept makes them fail with "unknown setting". The candidates are
#     the options --help lists, and the CONFIG_ONLY rows of the option table
#     in shared/options.c, which --help does not list (trust, emulators...);
#   - a CONFIG_ONLY key is no command-line option of any program;
#   - every key of the example, uncommented, is accepted by every program.
set -eu
: "${top_builddir:?}" "${top_srcdir:?}"

# The programs refuse a configuration file that others can write.
umask 022
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/empty.conf"
fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}

programs="begin prepare perform finish confirm status migrate"

# "--name ARG" or "--name", one a line, sorted, from --help. The option
# column is padded to 24 characters: an argument is the word after the name
# that is followed by two spaces.
help_options() {
    "$top_builddir/helpers/migphase-$1" --config "$tmp/empty.conf" --help |
        sed -n -e 's/^  \(--[a-z0-9-]*\)\( [^ ][^ ]*\)\{0,1\}  .*/\1\2/p' | sort
}

# The same from the page's OPTIONS section.
man_options() {
    sed -n -e '/^\.Sh OPTIONS$/,/^\.Sh /p' "$1" |
        sed -n -e 's/^\.It Fl \(-[a-z0-9-]*\)\( Ar [^ ]*\)\{0,1\}$/-\1\2/p' |
        sed -e 's/ Ar / /' | sort
}

for p in $programs; do
    prog=migphase-$p
    page=$top_builddir/docs/man/$prog.8
    help_options "$p" > "$tmp/$p.help"
    if [ ! -s "$tmp/$p.help" ]; then
        failed "$prog --help lists no option"
        continue
    fi
    if [ ! -f "$page" ]; then
        failed "$prog has no man page"
        continue
    fi
    man_options "$page" > "$tmp/$p.man"
    if ! diff -u "$tmp/$p.help" "$tmp/$p.man" > "$tmp/$p.diff"; then
        failed "$prog.8 OPTIONS differ from $prog --help (- help, + man page):
$(cat "$tmp/$p.diff")"
    fi
done

# The keys that only the configuration file knows, from the option table:
# rows `{ "name", "ARG" or NULL, PROGRAMS, CONFIG_ONLY, ...`, which may be
# wrapped over several lines. Every CONFIG_ONLY of the table must be found
# in such a row, or this sed no longer reads the table and would miss keys.
options_c=$top_srcdir/shared/options.c
sed -n -e '/option_defs\[\] = {/,/^};/p' "$options_c" > "$tmp/table"
# (The echo ends the last row's line, which tr leaves open.)
{ tr '\n\t' '  ' < "$tmp/table" | tr '{' '\n' && echo; } |
    sed -n -e 's/^ *"\([a-z0-9-]*\)", *[^,]*, *[^,"]*, *CONFIG_ONLY,.*/\1/p' > "$tmp/rows"
rows=$(grep -o 'CONFIG_ONLY,' "$tmp/table" | wc -l)
found=$(wc -l < "$tmp/rows")
if [ "$rows" -eq 0 ] || [ "$rows" -ne "$found" ]; then
    failed "$options_c: read $found of the $rows CONFIG_ONLY rows of option_defs[]: the probe is broken"
fi
sort -u "$tmp/rows" > "$tmp/config-only"

# A CONFIG_ONLY key decides whom a host trusts: whoever runs a helper must
# not be able to set it. (A flag of the same name, Begin's --tls, asks for
# something for one migration; no option may give the key a value.)
while read -r key; do
    for p in $programs; do
        if out=$("$top_builddir/helpers/migphase-$p" --config "$tmp/empty.conf" \
            "--$key=x" --help 2>&1 >/dev/null) ||
            ! printf '%s\n' "$out" | grep -q 'unknown option'; then
            failed "migphase-$p accepts the config-only key $key on its command line"
        fi
    done
done < "$tmp/config-only"

# Which options the configuration file accepts. Any value will do: a key
# that is known but gets a bad value fails with another message.
cat "$tmp"/*.help "$tmp/config-only" | sed 's/ .*//; s/^--//' | sort -u |
    grep -v -x -e help -e version > "$tmp/all"
: > "$tmp/keys"
while read -r key; do
    printf '%s = x\n' "$key" > "$tmp/one.conf"
    if ! "$top_builddir/helpers/migphase-migrate" --config "$tmp/one.conf" --help \
        2>&1 >/dev/null | grep -q 'unknown setting'; then
        echo "$key" >> "$tmp/keys"
    fi
done < "$tmp/all"
if [ ! -s "$tmp/keys" ]; then
    failed "no option is accepted in the configuration file: the probe is broken"
fi

conf_page=$top_builddir/docs/man/migphase.conf.5
sed -n -e 's/^\.It Cm \([a-z0-9-]*\) = Ar [^ ]*$/\1/p' "$conf_page" | sort > "$tmp/keys.man"
if ! diff -u "$tmp/keys" "$tmp/keys.man" > "$tmp/keys.diff"; then
    failed "migphase.conf.5 KEYS differ from what the programs accept (- accepted, + man page):
$(cat "$tmp/keys.diff")"
fi

# A copy, so that the umask of the build cannot make the programs refuse it.
cp "$top_builddir/etc/migphase.conf" "$tmp/migphase.conf"
chmod 0644 "$tmp/migphase.conf"
example=$tmp/migphase.conf
sed -n -e 's/^#\([a-z0-9-]*\) = .*/\1/p' "$example" | sort > "$tmp/keys.example"
if ! diff -u "$tmp/keys" "$tmp/keys.example" > "$tmp/example.diff"; then
    failed "etc/migphase.conf keys differ from what the programs accept (- accepted, + example):
$(cat "$tmp/example.diff")"
fi

# As installed (all commented) and with every key set, every program must
# accept the example.
sed -e 's/^#\([a-z0-9-]* = \)/\1/' "$example" > "$tmp/uncommented.conf"
for p in $programs; do
    for conf in "$example" "$tmp/uncommented.conf"; do
        if ! out=$("$top_builddir/helpers/migphase-$p" --config "$conf" --help 2>&1 >/dev/null); then
            failed "migphase-$p refuses $(basename "$conf"): $out"
        fi
    done
done

[ "$fail" = 0 ] &&
    echo "PASS: options of $(echo "$programs" | wc -w) programs and $(wc -l < "$tmp/keys") config keys match"
exit "$fail"
