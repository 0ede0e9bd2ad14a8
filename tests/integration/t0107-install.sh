#!/bin/bash
# make install and make uninstall, as a user would run them: installed into
# a DESTDIR in the scratch directory with PREFIX=/usr/local, exactly the
# files of the project arrive, with their modes, the library's links and
# soname, the bash completions, and the installation's paths in the unit, the .pc and the pages.
# tests/extern/hello.c is compiled against the installed header and library
# with pkg-config (PKG_CONFIG_SYSROOT_DIR into the DESTDIR), runs on the
# installed libpubsub.so.1 (ldd says so) against a real broker and talks to
# it; it is linked statically against libpubsub.a too.  The Python package
# lands in the site directory Debian's python3 reads for the prefix and
# talks to the broker through the installed libpubsub.so.1.  A second install
# keeps a configuration the administrator changed; uninstall removes every
# file but that one and says so.  PREFIX=/usr puts the file in /etc.
. "$(dirname "$0")/lib.sh"

# Programs linked with the sanitizer tree's library need its runtime.
cc_san=()
case "$BUILD" in *build-asan) cc_san=(-fsanitize=address,undefined) ;; esac
mk() { make_tree "$@"; }

DEST=$SCRATCH/dest
P=$DEST/usr/local
mk PREFIX=/usr/local DESTDIR="$DEST" install > install.log 2>&1 || {
    cat install.log
    fail "make install exited $?"
}

# Exactly these files, nothing missing and nothing else.
cat > want.txt << 'EOF'
755 usr/local/bin/pbench
755 usr/local/bin/pctl
755 usr/local/bin/ppub
755 usr/local/bin/psub
644 usr/local/etc/pubsub/brokerd.conf
644 usr/local/include/pubsub.h
644 usr/local/lib/libpubsub.a
777 usr/local/lib/libpubsub.so -> libpubsub.so.1
777 usr/local/lib/libpubsub.so.1 -> libpubsub.so.1.0.0
755 usr/local/lib/libpubsub.so.1.0.0
644 usr/local/lib/pkgconfig/libpubsub.pc
644 usr/local/lib/systemd/system/brokerd.service
644 usr/local/lib/systemd/system/brokerd.socket
755 usr/local/sbin/brokerd
644 usr/local/share/man/man1/pbench.1
644 usr/local/share/man/man1/pctl.1
644 usr/local/share/man/man1/ppub.1
644 usr/local/share/man/man1/psub.1
644 usr/local/share/man/man3/libpubsub.3
644 usr/local/share/man/man5/brokerd.conf.5
644 usr/local/share/man/man8/brokerd.8
644 usr/local/share/bash-completion/completions/brokerd
644 usr/local/share/bash-completion/completions/pbench
644 usr/local/share/bash-completion/completions/pctl
644 usr/local/share/bash-completion/completions/ppub
644 usr/local/share/bash-completion/completions/psub
EOF
# The Python package, in the site directory Debian's python3 reads for the prefix.
PYDIR=$(cd "$DEST" && find . -path '*/pubsub/__init__.py' -printf '%h\n' | sed 's|^\./||; s|/pubsub$||')
case "$PYDIR" in usr/local/lib/python3*/dist-packages) ;; *) fail "Python package installed into '$PYDIR'" ;; esac
run_python -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "/$PYDIR" ||
    fail "/$PYDIR is not on $(run_python -c 'import sys; print(sys.path)')"
for f in "$ROOT"/python/pubsub/*.py; do echo "644 $PYDIR/pubsub/$(basename "$f")"; done >> want.txt
(cd "$DEST" && find . ! -type d \( -type l -printf '%m %P -> %l\n' -o -printf '%m %P\n' \)) |
    LC_ALL=C sort -k2 > got.txt
LC_ALL=C sort -k2 -o want.txt want.txt
diff want.txt got.txt > files.diff || { cat files.diff; fail "installed files differ from the list (< missing, > extra)"; }
echo "installed into $DEST:" && sed 's/^/  /' got.txt

# The paths of this installation, inside the files that name them.
grep -qx 'ExecStart=/usr/local/sbin/brokerd -c /usr/local/etc/pubsub/brokerd.conf' \
    "$P/lib/systemd/system/brokerd.service" || fail "ExecStart: $(grep ExecStart "$P/lib/systemd/system/brokerd.service")"
grep -qx 'prefix=/usr/local' "$P/lib/pkgconfig/libpubsub.pc" || fail "libpubsub.pc: $(head -1 "$P/lib/pkgconfig/libpubsub.pc")"
grep -q '/usr/local/etc/pubsub/brokerd.conf' "$P/share/man/man8/brokerd.8" || fail "brokerd.8 does not name the installed configuration"
cmp -s "$ROOT/conf/brokerd.conf" "$P/etc/pubsub/brokerd.conf" || fail "the installed brokerd.conf is not the example"
"$P/sbin/brokerd" --check -c "$P/etc/pubsub/brokerd.conf" > /dev/null || fail "the installed configuration is refused"
"$P/bin/ppub" --version | grep -q "libpubsub 1.0.0" || fail "installed ppub --version: $("$P/bin/ppub" --version)"
# man finds the installed pages by name.
expect_eq "$(man -M "$P/share/man" -w brokerd.conf 2> /dev/null)" "$P/share/man/man5/brokerd.conf.5" "man -w brokerd.conf"
expect_eq "$(man -M "$P/share/man" -w 3 libpubsub 2> /dev/null)" "$P/share/man/man3/libpubsub.3" "man -w 3 libpubsub"

# The shared object: its soname, and only the API is exported.
soname=$(readelf -d "$P/lib/libpubsub.so.1.0.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
expect_eq "$soname" libpubsub.so.1 "soname"
exported=$(nm -D --defined-only "$P/lib/libpubsub.so.1.0.0" | awk '$2 == "T" {print $3}' | sort)
api=$(grep -oE 'ps_[a-z_]+\(' "$P/include/pubsub.h" | tr -d '(' | sort -u)
expect_eq "$exported" "$api" "functions the shared library exports"

# hello.c against the installed library, as a user builds it.
export PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST
flags=$(pkg-config --cflags --libs libpubsub) || fail "pkg-config --cflags --libs libpubsub exited $?"
echo "pkg-config --cflags --libs libpubsub: $flags"
case " $flags " in *" -I$P/include "*"-L$P/lib "*) ;; *) fail "pkg-config does not point into the DESTDIR: $flags" ;; esac
cc "${cc_san[@]}" -Wall -Werror -o hello "$ROOT/tests/extern/hello.c" $flags || fail "hello.c does not compile against the installed library"
LD_LIBRARY_PATH=$P/lib ldd ./hello > ldd.out
grep -q "libpubsub.so.1 => $P/lib/libpubsub.so.1 " ldd.out || { cat ldd.out; fail "hello does not load the installed libpubsub.so.1"; }
# Statically: the archive, and libzmq as usual.
cc "${cc_san[@]}" -Wall -Werror -o hello-static "$ROOT/tests/extern/hello.c" $(pkg-config --cflags libpubsub) \
    "$(pkg-config --variable=libdir libpubsub)/libpubsub.a" $(pkg-config --static --libs-only-l libpubsub | sed "s/-lpubsub//") ||
    fail "hello.c does not link with the installed libpubsub.a"
ldd ./hello-static | grep -q libpubsub && fail "hello-static still needs libpubsub.so"

start_broker
LD_LIBRARY_PATH=$P/lib ./hello "$PUBSUB_BROKER" logs > hello.out || fail "hello (shared) exited $?: $(cat hello.out)"
expect_eq "$(cat hello.out)" "hello from libpubsub 1.0.0" "what hello says"
./hello-static "$PUBSUB_BROKER" logs > hello-static.out || fail "hello (static) exited $?"
expect_eq "$(cat hello-static.out)" "hello from libpubsub 1.0.0" "what the static hello says"
# The installed Python package, on the installed library found by its
# soname (no PUBSUB_LIBRARY); /usr/local/lib is on the dynamic linker's
# path, so no library directory is written into it.
PYTHONPATH="$DEST/$PYDIR" LD_LIBRARY_PATH="$P/lib" run_python -c '
import sys, pubsub
from pubsub import _capi
assert pubsub.__file__.startswith(sys.argv[1]), pubsub.__file__
assert _capi.INSTALLED_LIBDIR == "", _capi.INSTALLED_LIBDIR
with pubsub.connect(name="python-installed") as c:
    c.publish("logs", "py/installed", "hello from python")
    c.flush()
print(pubsub.library_version())
print("\n".join(l.split()[-1] for l in open("/proc/self/maps") if "libpubsub" in l))
' "$DEST/$PYDIR" > py.out 2>&1 || fail "the installed Python package: $(cat py.out)"
expect_eq "$(head -1 py.out)" "1.0.0" "pubsub.library_version() of the installed package"
grep -qx "$P/lib/libpubsub.so.1.0.0" py.out || fail "the installed package did not load $P/lib/libpubsub.so.1.0.0: $(cat py.out)"
# The broker saw all three: three messages on 'logs', from three clients.
msgs=$(chan_stat logs messages)
expect_eq "$msgs" 3 "messages the broker counted on 'logs'"
expect_eq "$(grep -c 'connected as' brokerd.log)" 3 "clients the broker saw"
stop_broker || fail "brokerd exited $? on SIGTERM"

# A configuration the administrator changed survives the next install.
echo "# changed by the administrator" >> "$P/etc/pubsub/brokerd.conf"
cp "$P/etc/pubsub/brokerd.conf" mine.conf
mk PREFIX=/usr/local DESTDIR="$DEST" install > install2.log 2>&1 || fail "second make install exited $?"
cmp -s mine.conf "$P/etc/pubsub/brokerd.conf" || fail "make install overwrote the administrator's brokerd.conf"
grep -q "KEEP.*brokerd.conf" install2.log || fail "make install did not say it kept brokerd.conf"

mk PREFIX=/usr/local DESTDIR="$DEST" uninstall > uninstall.log 2>&1 || fail "make uninstall exited $?"
grep -q "KEEP.*$P/etc/pubsub/brokerd.conf" uninstall.log || { cat uninstall.log; fail "uninstall did not say it left the configuration"; }
left=$(cd "$DEST" && find . ! -type d -printf '%P\n')
expect_eq "$left" "usr/local/etc/pubsub/brokerd.conf" "files left after make uninstall"

# PREFIX=/usr: the configuration goes to /etc, and every file says so.
mk PREFIX=/usr DESTDIR="$SCRATCH/usr-dest" install > install3.log 2>&1 || fail "make install PREFIX=/usr exited $?"
U=$SCRATCH/usr-dest
[ -f "$U/etc/pubsub/brokerd.conf" ] || fail "PREFIX=/usr: no /etc/pubsub/brokerd.conf"
grep -qx 'ExecStart=/usr/sbin/brokerd -c /etc/pubsub/brokerd.conf' "$U/usr/lib/systemd/system/brokerd.service" ||
    fail "PREFIX=/usr: $(grep ExecStart "$U/usr/lib/systemd/system/brokerd.service")"
grep -qx 'prefix=/usr' "$U/usr/lib/pkgconfig/libpubsub.pc" || fail "PREFIX=/usr: .pc still says $(head -1 "$U/usr/lib/pkgconfig/libpubsub.pc")"
grep -q '/etc/pubsub/brokerd.conf' "$U/usr/share/man/man5/brokerd.conf.5" || fail "PREFIX=/usr: brokerd.conf.5 names another path"
[ -f "$U/usr/lib/python3/dist-packages/pubsub/__init__.py" ] || fail "PREFIX=/usr: the Python package is not in /usr/lib/python3/dist-packages"
grep -qx 'INSTALLED_LIBDIR = ""' "$U/usr/lib/python3/dist-packages/pubsub/_capi.py" || fail "PREFIX=/usr: _capi.py names a library directory"
mk PREFIX=/usr DESTDIR="$U" uninstall > /dev/null 2>&1 || fail "make uninstall PREFIX=/usr exited $?"
expect_eq "$(cd "$U" && find . ! -type d -printf '%P\n')" "etc/pubsub/brokerd.conf" "files left after uninstall PREFIX=/usr"
echo "ok: $(wc -l < want.txt) files installed and removed, hello built with pkg-config ran on the installed .so and on libpubsub.a, the Python package on the installed .so, configuration kept"
