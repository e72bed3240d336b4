#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# migphase-pki makes a two-host lab in one command. Checked with certtool:
# the layout and the modes of the keys, each certificate chains to the CA,
# is for its host's name (and address) and for its purpose as QEMU's
# tls-creds-x509 expects, and is the certificate of the key next to it.
# Then the refusals: an existing CA or host directory, a CA that is not
# there, a bad host name; and what add and --force do.
set -eu
: "${top_srcdir:?run from make check}"
pki() { sh "$top_srcdir/tools/migphase-pki" "$@"; }

if ! command -v certtool >/dev/null 2>&1; then
    echo "SKIP: certtool is not installed (apt-get install gnutls-bin)"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lab=$tmp/lab
fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}

SERVER_PURPOSE=1.3.6.1.5.5.7.3.1
CLIENT_PURPOSE=1.3.6.1.5.5.7.3.2

# verifies CERT [certtool options]: CERT chains to the lab's CA.
verifies() {
    cert=$1
    shift
    certtool --verify --load-ca-certificate "$lab/ca-cert.pem" --infile "$cert" "$@" \
        >"$tmp/verify.log" 2>&1
}

pubkey() {
    certtool --pubkey-info --no-text "$@" 2>/dev/null
}

check_host() {
    host=$1
    dir=$lab/$host
    for f in ca-cert.pem server-cert.pem server-key.pem client-cert.pem client-key.pem; do
        [ -f "$dir/$f" ] || failed "$host: no $f"
    done
    for f in server-key.pem client-key.pem; do
        mode=$(stat -c %a "$dir/$f")
        [ "$mode" = 600 ] || failed "$host: $f has mode $mode, not 600"
    done
    cmp -s "$dir/ca-cert.pem" "$lab/ca-cert.pem" || failed "$host: ca-cert.pem is not the lab's CA"

    verifies "$dir/server-cert.pem" --verify-hostname="$host" --verify-purpose=$SERVER_PURPOSE ||
        failed "$host: server-cert.pem is not a TLS server certificate for $host: $(grep "Chain verification output" "$tmp/verify.log")"
    verifies "$dir/client-cert.pem" --verify-hostname="$host" --verify-purpose=$CLIENT_PURPOSE ||
        failed "$host: client-cert.pem is not a TLS client certificate for $host: $(grep "Chain verification output" "$tmp/verify.log")"
    # Controls: the checks above can fail.
    if verifies "$dir/server-cert.pem" --verify-purpose=$CLIENT_PURPOSE; then
        failed "$host: server-cert.pem is also a client certificate"
    fi
    if verifies "$dir/server-cert.pem" --verify-hostname="not-$host"; then
        failed "$host: server-cert.pem is valid for any name"
    fi

    info=$(certtool -i --infile "$dir/server-cert.pem")
    echo "$info" | grep -q "Subject: CN=$host\$" || failed "$host: the common name is not $host"
    echo "$info" | grep -q "DNSname: $host\$" || failed "$host: no DNS name $host"
    echo "$info" | grep -q "Digital signature" || failed "$host: server key cannot sign cookies"
    echo "$info" | grep -q "CA): FALSE" || failed "$host: server-cert.pem is a CA"

    for role in server client; do
        [ "$(pubkey --load-privkey "$dir/$role-key.pem")" = \
            "$(pubkey --load-certificate "$dir/$role-cert.pem")" ] ||
            failed "$host: $role-key.pem is not the key of $role-cert.pem"
    done
}

# ---- A two-host lab in one command.
if ! pki create --days 30 "$lab" src.example 10.0.0.2 >"$tmp/out" 2>&1; then
    failed "create: $(cat "$tmp/out")"
fi
[ "$(stat -c %a "$lab/ca-key.pem")" = 600 ] || failed "ca-key.pem is not mode 600"
certtool -i --infile "$lab/ca-cert.pem" | grep -q "CA): TRUE" || failed "ca-cert.pem is not a CA"
check_host src.example
check_host 10.0.0.2
certtool -i --infile "$lab/10.0.0.2/server-cert.pem" | grep -q "IPAddress: 10.0.0.2\$" ||
    failed "10.0.0.2: no IP address in its certificate"
if certtool -i --infile "$lab/src.example/server-cert.pem" | grep -q "IPAddress"; then
    failed "src.example: an IP address in its certificate"
fi
if find "$lab" -mindepth 1 -maxdepth 1 -name '.*' | grep -q .; then
    failed "create left a temporary file in $lab"
fi

# ---- Refusals leave the lab as it was.
cp "$lab/ca-cert.pem" "$tmp/ca-before.pem"
expect_refusal() {
    status=$1 expect=$2
    shift 2
    rc=0
    pki "$@" >"$tmp/out" 2>&1 || rc=$?
    [ "$rc" = "$status" ] || failed "migphase-pki $*: exit $rc, not $status"
    grep -q -- "$expect" "$tmp/out" || failed "migphase-pki $*: no '$expect' in: $(cat "$tmp/out")"
}
expect_refusal 1 "already holds a CA" create "$lab" other.example
[ ! -e "$lab/other.example" ] || failed "a refused create made a host"
expect_refusal 1 "exists: replace it with --force" add "$lab" src.example
expect_refusal 1 "holds no CA" add "$tmp/empty" a.example
expect_refusal 2 "is not a host name" add "$lab" ../escape
expect_refusal 2 "is not a host name" add "$lab" -x
expect_refusal 2 "unknown option" create --bogus "$lab" a.example
expect_refusal 2 "positive number" create --days 0 "$lab" a.example
expect_refusal 2 "needs DIR and at least one HOST" create "$lab"
expect_refusal 2 "is ecdsa or rsa" add --key-type dsa "$lab" a.example
cmp -s "$lab/ca-cert.pem" "$tmp/ca-before.pem" || failed "a refusal changed the CA"

pki --help | grep -q "create \[--force\]" || failed "--help does not show create"

# ---- The key type: ECDSA P-256 by default (cheap signatures on the guest's
# pause), RSA on request; either is a TLS and signing certificate.
key_of() {
    certtool -i --infile "$lab/$1/server-cert.pem" | grep -E "Subject Public Key Algorithm|Curve:|Modulus \(bits" |
        tr -s ' \t' ' ' | tr '\n' ' '
}
case $(key_of src.example) in
*EC/ECDSA*SECP256R1*) ;;
*) failed "the default key is not ECDSA P-256: $(key_of src.example)" ;;
esac
pki add --key-type rsa "$lab" rsa.example >/dev/null || failed "add --key-type rsa"
check_host rsa.example
case $(key_of rsa.example) in
*RSA*"bits 3072"*) ;;
*) failed "--key-type rsa did not make a 3072-bit RSA key: $(key_of rsa.example)" ;;
esac

# ---- add issues from the same CA; --force replaces.
pki add "$lab" dst.example >/dev/null || failed "add dst.example"
check_host dst.example
cp "$lab/dst.example/server-cert.pem" "$tmp/dst-before.pem"
pki add --force "$lab" dst.example >/dev/null || failed "add --force dst.example"
cmp -s "$lab/dst.example/server-cert.pem" "$tmp/dst-before.pem" &&
    failed "add --force kept the old certificate"
check_host dst.example
pki create --force "$lab" src.example >/dev/null || failed "create --force"
cmp -s "$lab/ca-cert.pem" "$tmp/ca-before.pem" && failed "create --force kept the old CA"
check_host src.example

[ "$fail" = 0 ] && echo "PASS: migphase-pki makes a lab PKI that certtool accepts"
exit "$fail"
