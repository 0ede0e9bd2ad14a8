#!/bin/bash
# `make install PREFIX=/opt/...`, a directory the dynamic linker does not
# search: make install says so and how to help it; the installed tools run
# as they are (they carry the library inside); a program built with
# `pkg-config --libs libpubsub` finds libpubsub.so.1 by the rpath the .pc
# file gives it, without LD_LIBRARY_PATH, and talks to a broker; the
# installed Python package finds it in the directory make install wrote
# into it.  Under /usr and /usr/local the package names no directory: the
# linker finds libpubsub.so.1 by its soname.
. "$(dirname "$0")/lib.sh"

cc_san=()
case "$BUILD" in *build-asan) cc_san=(-fsanitize=address,undefined) ;; esac
X=$SCRATCH/opt/pubsub
make_tree PREFIX="$X" install > install.log 2>&1 || { cat install.log; fail "make install PREFIX=$X exited $?"; }
grep -q "NOTE   $X/lib is not searched by the dynamic linker" install.log || { cat install.log; fail "make install gave no hint"; }
grep -q "LD_LIBRARY_PATH=$X/lib" install.log || fail "the hint does not name LD_LIBRARY_PATH=$X/lib"

start_broker
unset LD_LIBRARY_PATH
"$X/bin/ppub" -t logs:a -m "from the installed ppub" || fail "the installed ppub exited $?"
expect_eq "$(chan_stat logs messages)" 1 "messages from the installed ppub"

flags=$(PKG_CONFIG_PATH=$X/lib/pkgconfig pkg-config --cflags --libs libpubsub) || fail "pkg-config exited $?"
case " $flags " in *" -Wl,-rpath,$X/lib "*) ;; *) fail "no rpath in pkg-config --libs libpubsub: $flags" ;; esac
cc "${cc_san[@]}" -Wall -Werror -o hello "$ROOT/tests/extern/hello.c" $flags || fail "hello.c does not build"
expect_eq "$(./hello "$PUBSUB_BROKER" logs 2>&1)" "hello from libpubsub 1.0.0" "hello without LD_LIBRARY_PATH"
ldd ./hello | grep -q "libpubsub.so.1 => $X/lib/libpubsub.so.1 " || fail "hello does not load $X/lib/libpubsub.so.1"

PYDIR=$(cd "$X" && find . -path '*/pubsub/__init__.py' -printf '%h\n' | sed 's|^\./||; s|/pubsub$||')
[ -n "$PYDIR" ] || fail "no Python package under $X"
PYTHONPATH="$X/$PYDIR" run_python -c '
import sys, pubsub
from pubsub import _capi
assert _capi.INSTALLED_LIBDIR == sys.argv[1], _capi.INSTALLED_LIBDIR
with pubsub.connect(name="python-prefix") as c:
    c.publish("logs", "py/prefix", "from python")
    c.flush()
print("\n".join(sorted(set(l.split()[-1] for l in open("/proc/self/maps") if "libpubsub" in l))))
' "$X/lib" > py.out 2>&1 || fail "the Python package under $X: $(cat py.out)"
expect_eq "$(cat py.out)" "$X/lib/libpubsub.so.1.0.0" "the library the Python package under $X loaded"
expect_eq "$(chan_stat logs messages)" 3 "messages from ppub, hello and Python"

# The usual prefixes need no rpath: the linker searches them.
for prefix in /usr /usr/local; do
    make_tree PREFIX=$prefix DESTDIR="$SCRATCH/d$prefix" install > sys.log 2>&1 || fail "make install PREFIX=$prefix exited $?"
    grep -q NOTE sys.log && fail "PREFIX=$prefix: a hint where none is needed: $(grep -A3 NOTE sys.log)"
    grep -rq -- -Wl,-rpath "$SCRATCH/d$prefix" --include=libpubsub.pc && fail "PREFIX=$prefix: an rpath in libpubsub.pc"
    capi=$(find "$SCRATCH/d$prefix" -path '*/pubsub/_capi.py')
    grep -qx 'INSTALLED_LIBDIR = ""' "$capi" || fail "PREFIX=$prefix: $capi names a directory: $(grep '^INSTALLED_LIBDIR' "$capi")"
done
make_tree PREFIX="$X" uninstall > uninstall.log 2>&1 || fail "make uninstall exited $?"
echo "ok: PREFIX=$X: a hint from make install, the tools run, a pkg-config program runs by its rpath, the Python package finds the library"
