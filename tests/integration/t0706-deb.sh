#!/bin/bash
# The Debian packages, as an administrator uses them: `make deb` builds
# brokerd, libpubsub1, libpubsub-dev, pubsub-tools and python3-pubsub
# with debhelper and dh-python and lintian passes them; `dpkg -i` installs
# them; the packaged configuration passes `brokerd --check`; the packaged
# broker runs and the packaged tools talk to it; a program builds against
# libpubsub-dev with pkg-config and runs on libpubsub1; Debian's python3
# imports the packaged pubsub module (Architecture: all, no path in it),
# which loads libpubsub1's library by its soname, and publishes and
# receives through the broker; `dpkg -r` and `dpkg -P` leave nothing
# behind (byte-compiled files included).
# Installing system packages needs root; the packages do not depend on the
# sanitizer tree, so its pass leaves them to the plain one.
. "$(dirname "$0")/lib.sh"

PKGS="brokerd libpubsub1 libpubsub-dev pubsub-tools python3-pubsub"
case "$BUILD" in *build-asan)
    echo "ok: skipped in the sanitizer tree (the plain pass builds and tests the packages)"
    exit 0 ;;
esac
[ "$(id -u)" = 0 ] || fail "installing packages needs root"
for p in $PKGS; do
    if dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed'; then
        echo "ok: skipped: $p is installed on this machine already, and the test would remove it"
        exit 0
    fi
done

# dpkg takes no turns: when another dpkg or apt-get holds its lock, wait.
dpkg_locked() { # CMD...: runs it, retrying for up to 5 minutes while dpkg is locked
    local deadline=$((SECONDS + 300))
    until "$@" > dpkg.out 2>&1; do
        grep -q 'lock' dpkg.out && [ "$SECONDS" -lt "$deadline" ] || { cat dpkg.out; return 1; }
        read -r -t 1 <> <(:) || true
    done
}
purge_all() { dpkg_locked dpkg -P $PKGS; }
# Whatever happens, the machine is left without the packages (and the
# test's own exit status stays what it was).
trap 'rc=$?; purge_all > /dev/null 2>&1; (exit $rc); cleanup' EXIT

make_tree deb > deb.log 2>&1
rc=$?
[ "$rc" = 0 ] || { tail -40 deb.log; fail "make deb exited $rc"; }
DEBS=$(ls "$BUILD"/deb/*_1.0.0_*.deb)
expect_eq "$(for d in $DEBS; do dpkg-deb -f "$d" Package; done | sort | tr '\n' ' ')" \
    "brokerd libpubsub-dev libpubsub1 pubsub-tools python3-pubsub " "packages built"
expect_eq "$(dpkg-deb -f "$BUILD"/deb/python3-pubsub_1.0.0_all.deb Architecture)" "all" "python3-pubsub's architecture"
grep -q "LINT" deb.log || fail "make deb did not run lintian"

dpkg_locked dpkg -i $DEBS || fail "dpkg -i exited $?"
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" | grep -q 'install ok installed' || fail "$p is not installed"
done
# What went where.
[ -x /usr/sbin/brokerd ] && [ -x /usr/bin/ppub ] && [ -x /usr/bin/pctl ] || fail "programs missing"
dpkg -L brokerd | grep -qx /lib/systemd/system/brokerd.service || fail "no unit in brokerd"
grep -qx 'ExecStart=/usr/sbin/brokerd -c /etc/pubsub/brokerd.conf' /lib/systemd/system/brokerd.service ||
    fail "the unit's ExecStart: $(grep ExecStart /lib/systemd/system/brokerd.service)"
grep -qx 'DynamicUser=yes' /lib/systemd/system/brokerd.service || fail "the unit has no DynamicUser"
grep -qx /etc/pubsub/brokerd.conf /var/lib/dpkg/info/brokerd.conffiles || fail "brokerd.conf is not a conffile"
dpkg -L libpubsub-dev | grep -q '/pkgconfig/libpubsub.pc$' || fail "no .pc in libpubsub-dev"
dpkg -L libpubsub-dev | grep -q 'man3/libpubsub.3' || fail "no libpubsub(3) in libpubsub-dev"
expect_eq "$(man -w 1 ppub 2> /dev/null)" "/usr/share/man/man1/ppub.1.gz" "man -w ppub"
/usr/sbin/brokerd --check -c /etc/pubsub/brokerd.conf > check.out 2>&1 || fail "brokerd --check: $(cat check.out)"

# The packaged broker, on a port of this test's own, and the packaged tools.
PORT=$(free_port)
export PUBSUB_BROKER=tcp://127.0.0.1:$PORT
/usr/sbin/brokerd -c /etc/pubsub/brokerd.conf -e "$PUBSUB_BROKER" >> "$SCRATCH/brokerd.log" 2>&1 &
BROKER_PID=$!
wait_until 20 "the packaged broker" eval '/usr/bin/pctl --timeout 300 ping > /dev/null 2>&1'
/usr/bin/psub -v -c logs -C 1 --timeout 5000 -F %p > sub.out 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
/usr/bin/ppub -t logs:deb/test "from the package" || fail "packaged ppub exited $?"
wait "$sub" || fail "packaged psub exited $?"
expect_eq "$(cat sub.out)" "from the package" "what the packaged psub received"
/usr/bin/pctl status --json | jq -e '.version == "1.0.0"' > /dev/null || fail "pctl status: $(/usr/bin/pctl status --json)"

# A program against libpubsub-dev: pkg-config, and libpubsub.so.1 from libpubsub1.
cc -Wall -Werror -o hello "$ROOT/tests/extern/hello.c" $(pkg-config --cflags --libs libpubsub) ||
    fail "hello.c does not build against libpubsub-dev"
ldd ./hello | grep -Eq "libpubsub.so.1 => (/usr)?/lib/[^ ]*/libpubsub.so.1 " || fail "hello does not use libpubsub1: $(ldd ./hello)"
expect_eq "$(./hello "$PUBSUB_BROKER" logs)" "hello from libpubsub 1.0.0" "hello on the packaged library"

# The packaged Python module, with nothing of the source tree in reach: it
# names no library directory and loads libpubsub1's libpubsub.so.1 by its
# soname; one client subscribes, another publishes, the first receives.
grep -qx 'INSTALLED_LIBDIR = ""' /usr/lib/python3/dist-packages/pubsub/_capi.py ||
    fail "python3-pubsub's _capi.py names a path: $(grep '^INSTALLED_LIBDIR' /usr/lib/python3/dist-packages/pubsub/_capi.py)"
ls /usr/lib/python3/dist-packages/pubsub/__pycache__/_capi.*.pyc > /dev/null 2>&1 || fail "python3-pubsub was not byte-compiled on installation"
(cd "$SCRATCH" && env -u PYTHONPATH -u PUBSUB_LIBRARY -u LD_LIBRARY_PATH -u LD_PRELOAD PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c '
import pubsub
assert pubsub.__file__ == "/usr/lib/python3/dist-packages/pubsub/__init__.py", pubsub.__file__
with pubsub.connect(name="python-deb-sub") as sub, pubsub.connect(name="python-deb-pub") as pub:
    sub.subscribe("logs", "deb/#")
    pub.publish("logs", "deb/python", "from python3-pubsub")
    pub.flush()
    m = sub.recv(timeout=10)
    print(m.topic, m.text)
print(pubsub.library_version())
print("\n".join(sorted(set(l.split()[-1] for l in open("/proc/self/maps") if "libpubsub" in l))))
') > py.out 2>&1 || fail "the packaged Python module: $(cat py.out)"
expect_eq "$(sed -n 1p py.out)" "deb/python from python3-pubsub" "what the packaged Python module received"
expect_eq "$(sed -n 2p py.out)" "1.0.0" "pubsub.library_version() on libpubsub1"
lib=$(sed -n 3p py.out)
dpkg -S "$lib" 2> /dev/null | grep -q '^libpubsub1:' || fail "the packaged Python module loaded $lib, not libpubsub1's library"
stop_broker || fail "the packaged brokerd exited $? on SIGTERM"

# Remove, then purge: nothing of theirs stays.
files=$(for p in $PKGS; do dpkg -L "$p"; done | sort -u)
dpkg_locked dpkg -r $PKGS || fail "dpkg -r exited $?"
[ -f /etc/pubsub/brokerd.conf ] || fail "dpkg -r removed the configuration (only a purge may)"
dpkg_locked dpkg -P $PKGS || fail "dpkg -P exited $?"
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'not-installed' ||
        [ -z "$(dpkg-query -W -f='${Status}' "$p" 2> /dev/null)" ] || fail "$p is still known to dpkg: $(dpkg-query -W -f='${Status}' "$p")"
done
left=0
for f in $files; do
    [ -d "$f" ] && continue # directories (/lib, /usr/share...) are shared with others
    [ -e "$f" ] || [ -L "$f" ] || continue
    echo "left behind: $f" >&2
    left=$((left + 1))
done
[ "$left" = 0 ] || fail "$left files of the packages are left after the purge"
[ ! -e /etc/pubsub ] && [ ! -e /var/lib/pubsub ] || fail "the purge left /etc/pubsub or /var/lib/pubsub"
[ ! -e /usr/lib/python3/dist-packages/pubsub ] ||
    fail "the purge left /usr/lib/python3/dist-packages/pubsub: $(find /usr/lib/python3/dist-packages/pubsub | head -5)"
echo "ok: 5 packages built, lintian-clean, installed, brokerd --check, broker, tools, libpubsub-dev and python3-pubsub used, removed and purged"
