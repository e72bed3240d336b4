#!/usr/bin/perl
# SPDX-License-Identifier: LGPL-2.1-or-later
# hvsupport.pl: the hypervisor support matrix, generated from the version
# comments of the driver tables, so that the page cannot fall behind the code.
#
# Reads the operation tables (struct mp_driver) and feature tables (struct
# mp_driver_features) of the driver sources, checks every annotation, and
# writes the matrix as HTML, as plain text, and as C data for
# mp_support_print(). Any bad annotation is an error: everything found is
# reported, nothing is written, and the exit status is 1, which stops make.
#
# This is not a C parser. It understands the subset the driver tables are
# written in (designated initializers, one entry per line, the version comment
# at the end of the entry's line) and refuses anything else, rather than guess.
#
# Only core Perl modules: it runs on a distribution's base perl.

use strict;
use warnings;

use Cwd qw(realpath);
use File::Spec;
use Getopt::Long qw(GetOptionsFromArray);
use List::Util qw(max);

my $PROG = 'hvsupport.pl';
my $PACKAGE = 'migphase';
my $VERSION_RE = qr/(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)/;

my $USAGE = <<"EOF";
usage: $PROG [OPTION]... SOURCE...

Check the version comments of the driver tables in each SOURCE and write the
support matrix. Problems are reported as FILE:LINE: error: MESSAGE; then
nothing is written and the exit status is 1 (2 for a usage error).

  --srcdir=DIR           read SOURCE, --header and --configure relative to DIR
                         (default: the current directory)
  --header=FILE          header declaring struct mp_driver and
                         struct mp_driver_features (default: engine/driver.h)
  --configure=FILE       take the package version from AC_INIT in FILE
                         (default: configure.ac)
  --package-version=VER  use VER as the package version instead
  --html=FILE            write the HTML page
  --text=FILE            write the plain-text matrix
  --c-source=FILE        write the C data that mp_support_print() prints
  --drivers=NAME,...     show only these drivers, in this order (--html, --text)
  --help                 print this help

Output FILEs are relative to the current directory; "-" is standard output.
With no output option, the tables are only checked.

Annotations (a version is X.Y.Z, and no newer than the package version):
  .begin = qemu_begin,    /* 0.1.0 */          implemented since 0.1.0
  .confirm = NULL,        /* 0.1.0 - 0.3.0 */  implemented in 0.1.0, removed in 0.3.0
  .live = true,           /* 0.1.0 */          supported since 0.1.0
  .postcopy = false,      /* 0.1.0 - 0.3.0 */  supported in 0.1.0, removed in 0.3.0
An operation never implemented, or a feature never supported, is left out of
its table. The metadata fields of struct mp_driver (.name, .features and any
other field that is not a function pointer) take no version.
EOF

# Text shared by the plain-text matrix here and in engine/support.c: the two
# must print the same bytes (tests/hvsupport/runtime-matrix.sh compares them).
my $TEXT_LEGEND = "Hypervisor support: the $PACKAGE release that first implemented each entry.\n"
    . "\"-\": not implemented. \"X (removed Y)\": implemented in X, removed in Y.\n";
my $TEXT_NO_DRIVER = "No hypervisor driver is compiled in.\n";

my @errors;

sub error_at {
    my ($file, $line, $msg) = @_;
    my $where = defined $line ? "$file:$line" : $file;
    push @errors, "$where: error: $msg\n";
}

sub usage_error {
    my ($msg) = @_;
    print STDERR "$PROG: $msg\n";
    print STDERR "Try '$PROG --help'.\n";
    exit 2;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return;
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# A path given relative to --srcdir, as it is opened.
sub in_srcdir {
    my ($srcdir, $path) = @_;
    return $path if File::Spec->file_name_is_absolute($path) || $srcdir eq '.';
    return File::Spec->catfile($srcdir, $path);
}

# Compare two X.Y.Z versions numerically (0.10.0 is after 0.9.0).
sub version_cmp {
    my ($x, $y) = @_;
    my @x = split /\./, $x;
    my @y = split /\./, $y;
    for my $i (0 .. 2) {
        my $c = $x[$i] <=> $y[$i];
        return $c if $c;
    }
    return 0;
}

# ---- the header: which fields exist, and which of them need a version ----

# The fields of struct NAME in declaration order, each { name, kind } where
# kind is 'function' (a function pointer), 'bool' or 'other'.
sub struct_fields {
    my ($text, $name, $fn_typedefs) = @_;
    return unless $text =~ /\bstruct\s+\Q$name\E\s*\{([^{}]*)\}\s*;/;
    my @fields;
    for my $decl (split /;/, $1) {
        next unless $decl =~ /\S/;
        $decl =~ s/^\s+|\s+$//g;
        if ($decl =~ /\(\s*\*\s*(\w+)\s*\)\s*\(/) {
            push @fields, { name => $1, kind => 'function' };
            next;
        }
        # "TYPE a, *b, c[2]": the type belongs to the first declarator.
        my @parts = split /\s*,\s*/, $decl;
        return unless $parts[0] =~ /^(.*?)\s*(\**)\s*(\w+)\s*(?:\[[^\]]*\])?\s*(?::\s*\w+)?$/;
        my ($type, $stars, $first) = ($1, $2, $3);
        $type =~ s/\s+/ /g;
        my $base = $type;
        $base =~ s/\b(?:const|volatile)\b\s*//g;
        $base =~ s/\s+$//;
        for my $i (0 .. $#parts) {
            my ($ptr, $field) = ($stars, $first);
            if ($i > 0) {
                return unless $parts[$i] =~ /^(\**)\s*(\w+)\s*(?:\[[^\]]*\])?\s*(?::\s*\w+)?$/;
                ($ptr, $field) = ($1, $2);
            }
            my $kind = 'other';
            if ($ptr eq '' && ($base eq 'bool' || $base eq '_Bool')) {
                $kind = 'bool';
            } elsif ($ptr eq '' && $fn_typedefs->{$base}) {
                $kind = 'function';
            }
            push @fields, { name => $field, kind => $kind };
        }
    }
    return \@fields;
}

sub parse_header {
    my ($path, $shown) = @_;
    my $text = slurp($path);
    if (!defined $text) {
        error_at($shown, undef, "cannot read: $!");
        return;
    }
    $text =~ s{/\*.*?\*/}{ }gs;
    $text =~ s{//[^\n]*}{}g;
    my %fn_typedefs;
    $fn_typedefs{$1} = 1 while $text =~ /\btypedef\b[^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(/g;

    my $driver = struct_fields($text, 'mp_driver', \%fn_typedefs);
    my $features = struct_fields($text, 'mp_driver_features', \%fn_typedefs);
    error_at($shown, undef, 'no readable definition of struct mp_driver') unless $driver;
    error_at($shown, undef, 'no readable definition of struct mp_driver_features')
        unless $features;
    return unless $driver && $features;

    my %header = (
        driver_fields => { map { $_->{name} => $_->{kind} } @$driver },
        feature_fields => { map { $_->{name} => $_->{kind} } @$features },
        operations => [ map { $_->{name} } grep { $_->{kind} eq 'function' } @$driver ],
        features => [ map { $_->{name} } grep { $_->{kind} eq 'bool' } @$features ],
    );
    # An empty row list would also make the generated C arrays empty, which C
    # before C23 does not allow.
    error_at($shown, undef, 'struct mp_driver has no function-pointer field')
        unless @{ $header{operations} };
    error_at($shown, undef, 'struct mp_driver_features has no bool field')
        unless @{ $header{features} };
    return if @errors;
    return \%header;
}

# ---- the driver sources ----

# Split C text into tokens { type, val, line, end }: comment, pp (a
# preprocessor line), string, char, word, punct. Whitespace is dropped.
sub tokenize {
    my ($text, $file) = @_;
    my @tokens;
    my $line = 1;
    my $at_line_start = 1;
    pos($text) = 0;
    while (pos($text) < length $text) {
        if ($text =~ /\G\n/gc) {
            $line++;
            $at_line_start = 1;
            next;
        }
        next if $text =~ /\G[ \t\f\r\x0b]+/gc;
        my ($type, $val);
        if ($text =~ m{\G(/\*.*?\*/)}gcs) {
            ($type, $val) = ('comment', $1);
        } elsif ($text =~ m{\G/\*}gc) {
            error_at($file, $line, 'unterminated comment');
            last;
        } elsif ($text =~ m{\G(//[^\n]*)}gc) {
            ($type, $val) = ('comment', $1);
        } elsif ($at_line_start && $text =~ /\G(#(?:[^\n\\]|\\.)*)/gcs) {
            ($type, $val) = ('pp', $1);
        } elsif ($text =~ /\G("(?:[^"\\\n]|\\.)*")/gc) {
            ($type, $val) = ('string', $1);
        } elsif ($text =~ /\G('(?:[^'\\\n]|\\.)*')/gc) {
            ($type, $val) = ('char', $1);
        } elsif ($text =~ /\G(\w+)/gc) {
            ($type, $val) = ('word', $1);
        } else {
            $text =~ /\G(.)/gcs;
            ($type, $val) = ('punct', $1);
        }
        my $start = $line;
        $line += ($val =~ tr/\n//);
        push @tokens, { type => $type, val => $val, line => $start, end => $line };
        $at_line_start = 0;
    }
    return \@tokens;
}

sub is_punct {
    my ($t, $c) = @_;
    return $t && $t->{type} eq 'punct' && $t->{val} eq $c;
}

sub is_word {
    my ($t, $w) = @_;
    return $t && $t->{type} eq 'word' && (!defined $w || $t->{val} eq $w);
}

# A token list as it reads in the source, for messages.
sub tokens_text {
    my (@tokens) = @_;
    my $s = join ' ', map { $_->{val} } grep { $_->{type} ne 'comment' } @tokens;
    $s =~ s/\s+/ /g;
    $s =~ s/ ([,;)\]])/$1/g;
    $s =~ s/([(\[&.]) /$1/g;
    $s = substr($s, 0, 40) . '...' if length $s > 43;
    return $s;
}

# The entries of one table body (the tokens between its braces): each
# { field, line, value => [tokens], comment => token or undef }. The version
# comment is the comment that ends the entry's line, after its comma (or
# before it, or with no comma on the last entry).
sub parse_entries {
    my ($file, $table, $body) = @_;
    my @entries;
    my $unreadable;
    my $i = 0;
    my $n = @$body;
    while ($i < $n) {
        my $t = $body->[$i];
        if ($t->{type} eq 'comment') {
            $i++;    # a comment on a line of its own explains; it is not a version
            next;
        }
        if ($t->{type} eq 'pp') {
            error_at($file, $t->{line},
                "$table: preprocessor line inside the table; the matrix would depend on"
                    . ' the build, so decide at run time instead');
            $unreadable = 1;
            $i++;
            next;
        }
        my $designated = is_punct($t, '.') && is_word($body->[$i + 1])
            && is_punct($body->[$i + 2], '=');
        my %entry = (line => $t->{line}, value => []);
        if ($designated) {
            $entry{field} = $body->[$i + 1]{val};
            $i += 3;
        }
        my $depth = 0;
        my $last_line;
        my @trailing;    # comments after the last token of the value
        while ($i < $n) {
            my $u = $body->[$i];
            if ($u->{type} eq 'comment') {
                push @trailing, $u;
                $i++;
                next;
            }
            if ($u->{type} eq 'pp') {
                last;
            }
            if ($u->{type} eq 'punct') {
                if ($u->{val} =~ /^[(\[{]$/) {
                    $depth++;
                } elsif ($u->{val} =~ /^[)\]}]$/) {
                    $depth--;
                } elsif ($u->{val} eq ',' && $depth == 0) {
                    $i++;
                    my $after = $body->[$i];
                    if ($after && $after->{type} eq 'comment' && $after->{line} == $u->{end}) {
                        push @trailing, $after;
                        $i++;
                    }
                    $last_line //= $u->{line};
                    last;
                }
            }
            push @{ $entry{value} }, $u;
            $last_line = $u->{end};
            @trailing = ();
            $i++;
        }
        if (!$designated) {
            error_at($file, $entry{line},
                "$table: write each entry as .field = value, not as: "
                    . tokens_text(@{ $entry{value} }));
            $unreadable = 1;
            next;
        }
        my ($version) = grep { defined $last_line && $_->{line} == $last_line } @trailing;
        $entry{comment} = $version;
        push @entries, \%entry;
    }
    return (\@entries, $unreadable);
}

# The tables of one source: every "struct mp_driver NAME = {...}" and
# "struct mp_driver_features NAME = {...}", with their entries.
sub find_tables {
    my ($file, $tokens) = @_;
    my @code = grep { $tokens->[$_]{type} ne 'comment' } 0 .. $#$tokens;
    my @tables;
    for my $k (0 .. $#code) {
        my $t = $tokens->[ $code[$k] ];
        next unless is_word($t, 'struct');
        my $type = $tokens->[ $code[ $k + 1 ] // -1 ];
        next unless $k + 1 <= $#code && is_word($type)
            && ($type->{val} eq 'mp_driver' || $type->{val} eq 'mp_driver_features');
        my $j = $k + 2;
        $j++ if $j <= $#code && is_word($tokens->[ $code[$j] ], 'const');
        next unless $j + 2 <= $#code;
        my ($name, $eq, $brace) = map { $tokens->[ $code[$_] ] } $j .. $j + 2;
        next unless is_word($name) && is_punct($eq, '=') && is_punct($brace, '{');

        my $depth = 0;
        my $close;
        for my $m ($code[ $j + 2 ] .. $#$tokens) {
            my $u = $tokens->[$m];
            next unless $u->{type} eq 'punct';
            $depth++ if $u->{val} eq '{';
            $depth-- if $u->{val} eq '}';
            if ($depth == 0) {
                $close = $m;
                last;
            }
        }
        my %table = (
            file => $file,
            kind => $type->{val} eq 'mp_driver' ? 'driver' : 'features',
            name => $name->{val},
            line => $name->{line},
            entries => [],
        );
        if (!defined $close) {
            error_at($file, $name->{line}, "$name->{val}: no closing brace");
            $table{unreadable} = 1;
        } else {
            my @body = @$tokens[ $code[ $j + 2 ] + 1 .. $close - 1 ];
            @table{qw(entries unreadable)} = parse_entries($file, $name->{val}, \@body);
        }
        push @tables, \%table;
    }
    return \@tables;
}

# The version annotation of an entry, checked: returns { since, removed }
# or undef after reporting why not.
sub entry_version {
    my ($file, $label, $entry, $package_version) = @_;
    my $c = $entry->{comment};
    if (!$c) {
        error_at($file, $entry->{line},
            "$label: no version comment; add /* X.Y.Z */, the release that first"
                . ' implemented it');
        return;
    }
    my $s = $c->{val};
    $s =~ s{^/\*|\*/$}{}g;
    $s =~ s{^//}{};
    $s =~ s/^\s+|\s+$//g;
    my ($since, $removed);
    if ($s =~ /^($VERSION_RE)$/) {
        $since = $1;
    } elsif ($s =~ /^($VERSION_RE)\s*-\s*($VERSION_RE)$/) {
        ($since, $removed) = ($1, $2);
    } else {
        my $shown = $c->{val};
        $shown =~ s/\s+/ /g;
        error_at($file, $entry->{line},
            "$label: malformed version comment $shown; want /* X.Y.Z */, or"
                . ' /* X.Y.Z - X.Y.Z */ for a removed entry');
        return;
    }
    for my $v (grep { defined } $since, $removed) {
        if (version_cmp($v, $package_version) > 0) {
            error_at($file, $entry->{line},
                "$label: version $v is newer than the package version $package_version");
            return;
        }
    }
    if (defined $removed && version_cmp($removed, $since) <= 0) {
        error_at($file, $entry->{line},
            "$label: removal version $removed is not after the first version $since");
        return;
    }
    return { since => $since, removed => $removed };
}

# Check one table's entries against the struct's fields; returns
# { field => { since, removed } } for the fields that take a version, and
# the metadata values by field name.
sub check_entries {
    my ($table, $fields, $struct, $package_version) = @_;
    my $file = $table->{file};
    my (%cells, %meta, %seen);
    for my $entry (@{ $table->{entries} }) {
        my $field = $entry->{field};
        my $label = "$table->{name}.$field";
        my $kind = $fields->{$field};
        if (!defined $kind) {
            error_at($file, $entry->{line}, "$label: $struct has no field \"$field\"");
            next;
        }
        if ($seen{$field}) {
            error_at($file, $entry->{line}, "$label: set twice (first on line $seen{$field})");
            next;
        }
        $seen{$field} = $entry->{line};
        my @value = @{ $entry->{value} };
        if (!@value) {
            error_at($file, $entry->{line}, "$label: no value");
            next;
        }
        my $wanted = $table->{kind} eq 'driver' ? 'function' : 'bool';
        if ($kind ne $wanted) {
            $meta{$field} = { tokens => \@value, line => $entry->{line} };
            next;
        }
        my $present;
        if ($table->{kind} eq 'driver') {
            $present = !(@value == 1 && is_word($value[0], 'NULL'));
        } elsif (@value == 1 && is_word($value[0]) && $value[0]{val} =~ /^(?:true|false)$/) {
            $present = $value[0]{val} eq 'true';
        } else {
            error_at($file, $entry->{line},
                "$label: value must be true or false, not \"" . tokens_text(@value) . '"');
            next;
        }
        my $v = entry_version($file, $label, $entry, $package_version) or next;
        my ($absent, $what) = $table->{kind} eq 'driver'
            ? ('NULL', 'an operation that was never implemented')
            : ('false', 'a feature that was never supported');
        if (!$present && !defined $v->{removed}) {
            error_at($file, $entry->{line},
                "$label: $absent needs a removal range /* X.Y.Z - X.Y.Z */;"
                    . " leave out $what");
            next;
        }
        if ($present && defined $v->{removed}) {
            error_at($file, $entry->{line},
                "$label: a removal range needs the entry set to $absent");
            next;
        }
        $cells{$field} = $v;
    }
    return (\%cells, \%meta);
}

# Read every source; returns the drivers in source order, each
# { name, table, file, line, operations => {...}, features => {...} }.
sub read_drivers {
    my ($opts, $header, $sources) = @_;
    my (@drivers, %by_name, %by_table, %by_path);
    for my $shown (@$sources) {
        my $path = in_srcdir($opts->{srcdir}, $shown);
        my $real = realpath($path);
        if (defined $real && $by_path{$real}) {
            error_at($shown, undef, "source given twice (also as $by_path{$real})");
            next;
        }
        $by_path{$real} = $shown if defined $real;
        my $text = slurp($path);
        if (!defined $text) {
            error_at($shown, undef, "cannot read: $!");
            next;
        }
        my $tables = find_tables($shown, tokenize($text, $shown));
        my %feature_tables;
        my %used;
        for my $table (@$tables) {
            if (my $other = $by_table{ $table->{name} }) {
                error_at($shown, $table->{line},
                    "$table->{name}: table already defined at $other->{file}:$other->{line}");
                next;
            }
            $by_table{ $table->{name} } = $table;
            next unless $table->{kind} eq 'features';
            my ($cells) = check_entries($table, $header->{feature_fields},
                'struct mp_driver_features', $opts->{package_version});
            $feature_tables{ $table->{name} } = { table => $table, cells => $cells };
        }
        my @here = grep { $_->{kind} eq 'driver' } @$tables;
        error_at($shown, undef, 'no struct mp_driver table') unless @here;
        for my $table (@here) {
            my ($cells, $meta) = check_entries($table, $header->{driver_fields},
                'struct mp_driver', $opts->{package_version});
            my %driver = (table => $table->{name}, file => $shown, line => $table->{line},
                operations => $cells, features => {});
            my $name = $meta->{name};
            my @v = $name ? @{ $name->{tokens} } : ();
            if (!$name) {
                # An unreadable table has been reported already; its .name
                # may be among the entries that could not be read.
                error_at($shown, $table->{line}, "$table->{name}: no .name")
                    unless $table->{unreadable};
                next;
            }
            if (@v != 1 || $v[0]{type} ne 'string' || $v[0]{val} !~ /^"([A-Za-z0-9][\w.+-]*)"$/) {
                error_at($shown, $name->{line},
                    "$table->{name}.name: want a plain word in quotes, not "
                        . tokens_text(@v));
                next;
            }
            $driver{name} = $1;
            if (my $features = $meta->{features}) {
                my @f = @{ $features->{tokens} };
                if (@f == 2 && is_punct($f[0], '&') && is_word($f[1])) {
                    my $ft = $feature_tables{ $f[1]{val} };
                    if ($ft) {
                        $driver{features} = $ft->{cells};
                        $used{ $f[1]{val} } = 1;
                    } else {
                        error_at($shown, $features->{line},
                            "$table->{name}.features: no struct mp_driver_features table"
                                . " \"$f[1]{val}\" in this file");
                    }
                } elsif (!(@f == 1 && is_word($f[0], 'NULL'))) {
                    error_at($shown, $features->{line},
                        "$table->{name}.features: want &TABLE, a struct mp_driver_features"
                            . ' table of this file');
                }
            }
            if (my $other = $by_name{ $driver{name} }) {
                error_at($shown, $table->{line},
                    "$table->{name}: driver \"$driver{name}\" is listed twice (first by"
                        . " $other->{table} at $other->{file}:$other->{line})");
                next;
            }
            $by_name{ $driver{name} } = \%driver;
            push @drivers, \%driver;
        }
        for my $ft (sort { $a->{table}{line} <=> $b->{table}{line} } values %feature_tables) {
            next if $used{ $ft->{table}{name} };
            error_at($shown, $ft->{table}{line},
                "$ft->{table}{name}: not used by any driver table of this file");
        }
    }
    return \@drivers;
}

sub package_version {
    my ($opts) = @_;
    if (defined $opts->{package_version}) {
        usage_error("--package-version: \"$opts->{package_version}\" is not X.Y.Z")
            unless $opts->{package_version} =~ /^$VERSION_RE$/;
        return $opts->{package_version};
    }
    my $path = in_srcdir($opts->{srcdir}, $opts->{configure});
    my $text = slurp($path);
    usage_error("cannot read $opts->{configure}: $!") unless defined $text;
    # AC_INIT([name], [version], ...): a release version X.Y.Z, perhaps with
    # a suffix (0.2.0-rc1, 0.2.0.git) that orders after X.Y.Z's annotations.
    if ($text =~ /AC_INIT\(\s*\[?[^,\]]*\]?\s*,\s*\[?\s*($VERSION_RE)[^\],]*\]?/) {
        return $1;
    }
    usage_error("$opts->{configure}: no X.Y.Z version in AC_INIT");
}

# ---- output ----

sub cell_text {
    my ($cell) = @_;
    return '-' unless $cell;
    return $cell->{since} unless defined $cell->{removed};
    return "$cell->{since} (removed $cell->{removed})";
}

sub html_escape {
    my ($s) = @_;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    return $s;
}

sub text_table {
    my ($title, $rows, $key, $drivers) = @_;
    my @cols = ([ $title, @$rows ]);
    for my $d (@$drivers) {
        push @cols, [ $d->{name}, map { cell_text($d->{$key}{$_}) } @$rows ];
    }
    my @width = map { max(map { length } @$_) } @cols;
    my @lines = ([ map { $_->[0] } @cols ], [ map { '-' x $_ } @width ]);
    for my $r (1 .. @$rows) {
        push @lines, [ map { $_->[$r] } @cols ];
    }
    my $out = '';
    for my $cells (@lines) {
        my $line = join '  ', map { sprintf '%-*s', $width[$_], $cells->[$_] } 0 .. $#cols;
        $line =~ s/ +$//;
        $out .= "$line\n";
    }
    return $out;
}

sub render_text {
    my ($header, $drivers) = @_;
    return $TEXT_NO_DRIVER unless @$drivers;
    return $TEXT_LEGEND . "\n"
        . text_table('Operation', $header->{operations}, 'operations', $drivers) . "\n"
        . text_table('Feature', $header->{features}, 'features', $drivers);
}

sub html_table {
    my ($caption, $title, $rows, $key, $drivers) = @_;
    my $out = "<table>\n<caption>" . html_escape($caption) . "</caption>\n";
    # <thead>: user agents repeat it on every printed page of a long table.
    $out .= "<thead>\n<tr><th scope=\"col\">" . html_escape($title) . '</th>';
    $out .= '<th scope="col">' . html_escape($_->{name}) . '</th>' for @$drivers;
    $out .= "</tr>\n</thead>\n<tbody>\n";
    for my $row (@$rows) {
        $out .= '<tr><th scope="row"><code>' . html_escape($row) . '</code></th>';
        for my $d (@$drivers) {
            my $cell = $d->{$key}{$row};
            my $text;
            if (!$cell) {
                $text = '-';
            } elsif (defined $cell->{removed}) {
                $text = '<del>' . html_escape($cell->{since}) . '</del> (removed '
                    . html_escape($cell->{removed}) . ')';
            } else {
                $text = html_escape($cell->{since});
            }
            $out .= "<td>$text</td>";
        }
        $out .= "</tr>\n";
    }
    return $out . "</tbody>\n</table>\n";
}

sub render_html {
    my ($opts, $header, $drivers, $sources) = @_;
    my $v = html_escape($opts->{package_version});
    my $from = html_escape(join ', ', @$sources);
    $from =~ s/-(?=-)/- /g;    # "--" may not appear inside an HTML comment
    my $out = <<"EOF";
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<!-- Generated by docs/hvsupport.pl from $from; do not edit. -->
<title>$PACKAGE $v: hypervisor support matrix</title>
<style>
table { border-collapse: collapse; margin: 1em 0; }
caption { font-weight: bold; text-align: left; }
th, td { border: 1px solid #999; padding: 0.2em 0.6em; text-align: left; }
</style>
</head>
<body>
<h1>Hypervisor support matrix</h1>
<p>What each hypervisor driver of $PACKAGE $v does. Each cell gives the $PACKAGE
release that first implemented the entry in that driver; the tables are
generated from the annotated driver tables of the source, so they match the
code of this release.</p>
<dl>
<dt>0.1.0</dt><dd>implemented since release 0.1.0</dd>
<dt>-</dt><dd>not implemented</dd>
<dt><del>0.1.0</del> (removed 0.3.0)</dt>
<dd>implemented in release 0.1.0, removed in release 0.3.0</dd>
</dl>
EOF
    if (!@$drivers) {
        $out .= "<p>No hypervisor driver.</p>\n";
    } else {
        $out .= html_table('Migration steps and other driver operations', 'Operation',
            $header->{operations}, 'operations', $drivers);
        $out .= html_table('Migration features', 'Feature', $header->{features}, 'features',
            $drivers);
    }
    return $out . "</body>\n</html>\n";
}

sub c_string {
    my ($s) = @_;
    return 'NULL' unless defined $s;
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/([^ -~])/sprintf('\\%03o', ord $1)/ge;
    return "\"$s\"";
}

sub c_cells {
    my ($name, $rows, $cells) = @_;
    my $out = "static const struct mp_support_cell ${name}[] = {\n";
    for my $row (@$rows) {
        my $c = $cells->{$row};
        $out .= sprintf "    { %s, %s }, /* %s */\n", c_string($c && $c->{since}),
            c_string($c && $c->{removed}), $row;
    }
    return $out . "};\n";
}

sub render_c {
    my ($header, $drivers, $sources) = @_;
    my $from = join ' ', @$sources;
    my $out = "/* Generated by docs/hvsupport.pl from $from; do not edit. */\n"
        . "#include \"config.h\"\n\n#include \"support.h\"\n\n#include <stddef.h>\n\n";
    for my $list ([ 'mp_support_operations', $header->{operations} ],
        [ 'mp_support_features', $header->{features} ])
    {
        $out .= "const char *const $list->[0]\[] = {\n";
        $out .= '    ' . c_string($_) . ",\n" for @{ $list->[1] };
        $out .= "    NULL,\n};\n\n";
    }
    for my $d (@$drivers) {
        $out .= c_cells("$d->{table}_operations", $header->{operations}, $d->{operations});
        $out .= c_cells("$d->{table}_features", $header->{features}, $d->{features}) . "\n";
    }
    $out .= "const struct mp_support_driver mp_support_drivers[] = {\n";
    for my $d (@$drivers) {
        $out .= "    {\n        .name = " . c_string($d->{name}) . ",\n"
            . "        .operations = $d->{table}_operations,\n"
            . "        .features = $d->{table}_features,\n    },\n";
    }
    return $out . "    { .name = NULL },\n};\n";
}

# Write a regular file through a temporary file, so that an interrupted run
# never leaves a half-written target that make would take as up to date.
# Anything else ("-", a device, a pipe) is written in place, never replaced.
sub write_output {
    my ($path, $content) = @_;
    if ($path eq '-' || (-e $path && !-f $path)) {
        my $fh;
        my $ok = $path eq '-' ? open($fh, '>&', \*STDOUT) : open($fh, '>', $path);
        if (!$ok || !print({$fh} $content) || !close($fh)) {
            my $what = $path eq '-' ? 'standard output' : $path;
            print STDERR "$PROG: cannot write $what: $!\n";
            exit 1;
        }
        return;
    }
    my $tmp = "$path.tmp";
    my $fh;
    if (!open($fh, '>', $tmp) || !print({$fh} $content) || !close($fh)
        || !rename($tmp, $path))
    {
        my $why = "$!";
        unlink $tmp;
        print STDERR "$PROG: cannot write $path: $why\n";
        exit 1;
    }
}

sub main {
    my @argv = @_;
    my %opts = (srcdir => '.', header => 'engine/driver.h', configure => 'configure.ac');
    GetOptionsFromArray(\@argv, \%opts, 'srcdir=s', 'header=s', 'configure=s',
        'package-version=s' => \$opts{package_version}, 'html=s', 'text=s',
        'c-source=s' => \$opts{c_source}, 'drivers:s', 'help')
        or usage_error('bad option');
    if ($opts{help}) {
        print $USAGE;
        return 0;
    }
    usage_error('no driver source given') unless @argv;
    $opts{package_version} = package_version(\%opts);

    my $header = parse_header(in_srcdir($opts{srcdir}, $opts{header}), $opts{header});
    my $drivers = $header ? read_drivers(\%opts, $header, \@argv) : [];
    if (@errors) {
        print STDERR @errors;
        return 1;
    }

    my $shown = $drivers;
    if (defined $opts{drivers}) {
        my %by_name = map { $_->{name} => $_ } @$drivers;
        $shown = [];
        for my $name (grep { length } split /,/, $opts{drivers}) {
            usage_error("--drivers: no driver named \"$name\"") unless $by_name{$name};
            push @$shown, $by_name{$name};
        }
    }
    write_output($opts{html}, render_html(\%opts, $header, $shown, \@argv)) if $opts{html};
    write_output($opts{text}, render_text($header, $shown)) if $opts{text};
    write_output($opts{c_source}, render_c($header, $drivers, \@argv)) if $opts{c_source};
    return 0;
}

exit main(@ARGV);
