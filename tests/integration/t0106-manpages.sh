#!/bin/bash
# The manual pages, as `make all` builds them for installation: each of the
# seven renders with `man -l` without a single groff warning, has a NAME
# line whatis(1) can index, has no @PLACEHOLDER@ left, and refers only to
# pages that exist.  And they cannot fall behind the code: every option
# (and pctl command, pbench scenario, environment variable) of each tool's
# --help, every name of libpubsub/pubsub.h and every key of the
# configuration schema in brokerd/config_schema.c must appear in its page.
. "$(dirname "$0")/lib.sh"

MAN=$BUILD/man
PAGES="brokerd.8 brokerd.conf.5 ppub.1 psub.1 pctl.1 pbench.1 libpubsub.3"
for p in $PAGES; do
    [ -f "$MAN/$p" ] || fail "$MAN/$p was not built (make all builds the pages)"
done
# The sources are templates only: a page under man/ that man(1) could show
# would show @VERSION@ and the like.
for src in "$ROOT"/man/*; do
    case " $PAGES " in *" $(basename "$src" .in) "*) ;; *) fail "man/$(basename "$src") is not one of the pages tested here" ;; esac
    case $src in *.in) ;; *) fail "man/$(basename "$src") is not a template (man/NAME.in)" ;; esac
done

# The page as a user reads it, one long line per paragraph, plain ASCII.
render() { LC_ALL=C MANWIDTH=200 man -l "$MAN/$1" 2> /dev/null | col -b; }

warnings=0
for p in $PAGES; do
    MANROFFSEQ='' MANWIDTH=80 man --warnings=w -l "$MAN/$p" 2>&1 > /dev/null | sed "s|^|$p: |" > warn.out
    if [ -s warn.out ]; then
        cat warn.out >&2
        warnings=$((warnings + 1))
    fi
    lexgrog "$MAN/$p" > /dev/null 2>&1 || fail "$p: no NAME line whatis can index"
    grep -n '@[A-Z]*@' "$MAN/$p" && fail "$p: a placeholder the Makefile did not fill in"
    render "$p" > "$p.txt"
    [ "$(wc -l < "$p.txt")" -gt 20 ] || fail "$p renders to almost nothing"
    # Cross-references to our own pages name pages that exist.
    for ref in $(grep -oE '\b(brokerd|brokerd\.conf|ppub|psub|pctl|pbench|libpubsub)\([0-9]\)' "$p.txt" | sort -u); do
        name=${ref%(*}
        sect=${ref#*(}
        [ -f "$MAN/$name.${sect%)}" ] || fail "$p refers to $ref, which does not exist"
    done
done
[ "$warnings" = 0 ] || fail "$warnings pages render with warnings (above)"

# Requires WORD in the rendered page, not as part of a longer option or name.
missing=0
need() { # PAGE WORD WHAT
    if ! grep -qE -- "(^|[^-A-Za-z0-9_])$(printf '%s' "$2" | sed 's/[.$]/\\&/g')([^-A-Za-z0-9_]|$)" "$1.txt"; then
        echo "$1: $3 '$2' is not described" >&2
        missing=$((missing + 1))
    fi
}

checked=0
for tool in brokerd ppub psub pctl pbench; do
    case $tool in brokerd) page=brokerd.8 ;; *) page=$tool.1 ;; esac
    "$BUILD/$tool" --help > help.txt || fail "$tool --help exited $?"
    opts=$(grep -oE '^ +(-[A-Za-z0-9], +)?--[a-z0-9][-a-z0-9]*' help.txt | grep -oE -- '--?[A-Za-z0-9][-a-z0-9]*')
    [ -n "$opts" ] || fail "no options found in $tool --help"
    for o in $opts; do
        need "$page" "$o" "option"
        checked=$((checked + 1))
    done
    for v in $(grep -oE '\$[A-Z_]+' help.txt | tr -d '$' | sort -u); do
        need "$page" "$v" "environment variable"
        checked=$((checked + 1))
    done
done
# pctl's commands and pbench's scenarios are words of their own.
for c in $("$BUILD/pctl" --help | sed -n '/^Commands:/,/^$/p' | grep -oE '^  [a-z]+'); do
    need pctl.1 "$c" "command"
    checked=$((checked + 1))
done
for s in $("$BUILD/pbench" --help | sed -n 's/^Scenarios ([^)]*): //p'); do
    need pbench.1 "$s" "scenario"
    checked=$((checked + 1))
done

# Every exported function, option, flag and error code of the header.
names=$(grep -oE 'PS_EXPORT [^(]*\b(ps_[a-z_]+)\(' "$ROOT/libpubsub/pubsub.h" | grep -oE 'ps_[a-z_]+\($' | tr -d '(')
names+=" $(grep -oE '^#define (PS_[A-Z_]+)' "$ROOT/libpubsub/pubsub.h" | awk '{print $2}' | grep -vE '^PS_(EXPORT|H)$|^PUBSUB_H$')"
names+=" $(grep -oE '^ +PS_OPT_[A-Z_]+' "$ROOT/libpubsub/pubsub.h")"
[ "$(echo $names | wc -w)" -gt 40 ] || fail "too few names found in pubsub.h: $names"
for n in $names; do
    need libpubsub.3 "$n" "name of pubsub.h"
    checked=$((checked + 1))
done

# Every key of the configuration schema.
keys=$(grep -oE '\{"[a-z_]+", K_[A-Z]+\}' "$ROOT/brokerd/config_schema.c" | cut -d'"' -f2 | sort -u)
[ "$(echo $keys | wc -w)" -gt 15 ] || fail "too few keys found in config_schema.c: $keys"
for k in $keys; do
    need brokerd.conf.5 "$k" "configuration key"
    checked=$((checked + 1))
done
[ "$missing" = 0 ] || fail "$missing names are missing from the pages (above)"
echo "ok: 7 pages render without warnings; $checked options, commands, names and keys all described"
