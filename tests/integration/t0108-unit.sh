#!/bin/bash
# The systemd units as `make install` installs them.  `systemd-analyze
# verify` accepts brokerd.service and brokerd.socket without a single
# complaint (in a root of their own: the DESTDIR plus the few targets and
# /bin/kill they refer to, since a container has no running systemd), and
# their Documentation= pages are installed.  `systemd-analyze security
# --offline` rates the service at most MAX_EXPOSURE.  And the hardening
# does not break the broker: brokerd runs under the unit's system-call,
# address-family, real-time and W^X filters (sandbox.py installs them as
# systemd would) through a workload that touches every kind of channel,
# durable data, the ipc socket, a reload and a clean stop; strace shows
# it wrote nowhere but its data_dir and ipc directory (ProtectSystem=
# strict), read no /proc file outside its own (ProcSubset=pid) and no
# device PrivateDevices= hides, and that the filter refused nothing.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze > /dev/null || fail "systemd-analyze is not installed"
command -v strace > /dev/null || fail "strace is not installed"
/usr/bin/python3 -c 'import seccomp' 2> /dev/null || fail "python3-seccomp is not installed"
MAX_EXPOSURE=1.1

V=$SCRATCH/root
make_tree PREFIX=/usr/local DESTDIR="$V" install > install.log 2>&1 || { cat install.log; fail "make install exited $?"; }
UNITS=$V/usr/local/lib/systemd/system
SERVICE=$UNITS/brokerd.service
mkdir -p "$V/usr/lib/systemd/system" "$V/usr/bin"
ln -s usr/bin "$V/bin"
cp /usr/bin/kill "$V/usr/bin/kill"
for u in sysinit.target basic.target shutdown.target network.target multi-user.target sockets.target; do
    cp "/lib/systemd/system/$u" "$V/usr/lib/systemd/system/" || fail "the host has no $u"
done

# verify says nothing at all about a good unit: warnings ("Unknown key",
# "Unknown system call group") do not change its exit status, so its
# output is what counts.  man(1) looks up Documentation= in the DESTDIR.
MANPATH=$V/usr/local/share/man systemd-analyze verify --root="$V" "$SERVICE" "$UNITS/brokerd.socket" > verify.out 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s verify.out ] || { cat verify.out; fail "systemd-analyze verify: exit $rc, complaints above"; }
# ... and does complain about a broken copy, so the silence means something.
sed -e 's/^ProtectSystem=/ProtectSytem=/' -e 's|^ExecStart=/usr/local/sbin/|ExecStart=/usr/local/nosbin/|' \
    "$SERVICE" > "$UNITS/broken.service"
systemd-analyze verify --man=no --root="$V" "$UNITS/broken.service" > broken.out 2>&1
grep -q "Unknown key 'ProtectSytem'" broken.out && grep -q "nosbin/brokerd is not executable" broken.out ||
    { cat broken.out; fail "verify did not notice the mistakes planted in broken.service"; }
rm "$UNITS/broken.service"
# The LoadCredential= lines the unit's comments give for the key and the
# token are good lines of a unit too (t0109 tests what brokerd does with
# the files they hand over).
sed -n 's/^#   \(LoadCredential=.*\)/\1/p' "$SERVICE" > creds.lines
[ "$(wc -l < creds.lines)" = 2 ] || fail "the unit's comments do not give two LoadCredential= lines"
sed '/^\[Service\]/r creds.lines' "$SERVICE" > "$UNITS/credentials.service"
MANPATH=$V/usr/local/share/man systemd-analyze verify --root="$V" "$UNITS/credentials.service" > creds.out 2>&1
[ ! -s creds.out ] || { cat creds.out; fail "systemd-analyze verify complains about the LoadCredential= lines"; }
rm "$UNITS/credentials.service"

systemd-analyze security --offline=yes --root="$V" "$SERVICE" > security.out 2>&1
score=$(sed -n 's/.*Overall exposure level for brokerd.service: \([0-9.]*\).*/\1/p' security.out)
[ -n "$score" ] || { cat security.out; fail "no exposure level from systemd-analyze security"; }
grep '✗' security.out | sed 's/  */ /g'
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
    fail "exposure level $score is above $MAX_EXPOSURE"

# The broker under the unit's filters, traced.  Its writable places are a
# data directory and a runtime directory, as StateDirectory= and
# RuntimeDirectory= give it.
PORT=$(free_port)
mkdir run
cat > u.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/run/brokerd.sock" ];
  data_dir = "$SCRATCH/data";
};
channels = (
  { name = "jobs"; type = "queue"; durable = true; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; }
);
EOF
# LeakSanitizer (sanitizer builds) stops the world with ptrace, which
# neither the filter nor strace allows; the rest of the sanitizers stay.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
BROKER_WRAPPER="strace -ff -qq -y -o $SCRATCH/trace /usr/bin/python3 $TESTS/integration/sandbox.py $SERVICE --" \
    start_broker -c u.conf
STRACE_PID=$BROKER_PID
BROKER_PID=$(cat "/proc/$STRACE_PID/task/$STRACE_PID/children")
[ -n "$BROKER_PID" ] || fail "no brokerd under strace"

seq -f "job-%g" 1 100 | "$BUILD/ppub" -c jobs --confirm || fail "durable publish exited $?"
"$BUILD/ppub" -b "ipc://$SCRATCH/run/brokerd.sock" -c logs -t a/b --retain "kept" || fail "retained publish over ipc exited $?"
"$BUILD/psub" -c logs -t 'a/#' -n 1 --timeout 5000 > ret.out || fail "psub of the retained value exited $?"
expect_eq "$(cat ret.out)" kept "the retained value"
"$BUILD/psub" -c alerts --echo -v 2> echo.err &
wait_for_file_lines echo.err 1
expect_eq "$("$BUILD/ppub" -c alerts --request ping)" ping "the reply of a request"
"$BUILD/ppub" -c alerts --sync "sync" || fail "sync publish exited $?"
"$BUILD/psub" -c jobs -n 100 --timeout 5000 > jobs.out || fail "psub of the durable queue exited $?"
seq -f "job-%g" 1 100 | cmp -s - jobs.out || fail "the durable queue gave back something else"
sed -i 's/^);/,  { name = "more"; type = "queue"; durable = true; }\n);/' u.conf
kill -HUP "$BROKER_PID"
wait_for_log "configuration reloaded"
"$BUILD/ppub" -c more --confirm "after reload" || fail "publish to the reloaded channel exited $?"
"$BUILD/pctl" status > /dev/null || fail "pctl status exited $?"
kill -TERM "$BROKER_PID"
wait "$STRACE_PID"
rc=$?
BROKER_PID=
expect_eq "$rc" 0 "brokerd's exit status under the filters"
if grep -E ' (error|warning): |Operation not permitted|not supported|Aborted' brokerd.log; then
    fail "brokerd complained under the unit's filters"
fi

# What the trace says: brokerd's main thread from its execve on (sandbox.py
# runs before it in that process), and its other threads, whose files hold
# no execve (those that do are systemd-analyze, run by sandbox.py).
exe_file=$(grep -l "^execve(\"$BUILD/brokerd\"" trace.* | head -1)
[ -n "$exe_file" ] || fail "no execve of brokerd in the trace"
{
    sed -n '/^execve("[^"]*brokerd"/,$p' "$exe_file"
    for f in trace.*; do grep -q '^execve(' "$f" || cat "$f"; done
} | sed 's/AT_FDCWD<[^>]*>/AT_FDCWD/g' > calls # -y: fds with their paths, the cwd left out
[ "$(wc -l < calls)" -gt 100 ] || fail "the trace is too short to judge: $(wc -l < calls) calls"
denied=$(grep -E '= -1 EPERM|= -1 EAFNOSUPPORT' calls | grep -v '^--- ')
[ -z "$denied" ] || { echo "$denied" | head -20; fail "the unit's filters refused calls brokerd made (above)"; }
# Successful calls that change the file system, and where (a call relative
# to a directory fd names it as N<PATH>).
bad=$(grep -E '^(openat\(AT_FDCWD, "[^"]*", [^)]*O_(WRONLY|RDWR|CREAT|TRUNC)|(mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|rmdir|truncate|link|symlink|chmod|fchmodat)\()' calls |
    grep -vE '= -1 ' | grep -vE "(\"|<)$SCRATCH/(data|run)(/|\"|>)")
[ -z "$bad" ] || { echo "$bad" | head; fail "brokerd wrote outside its data and runtime directories (ProtectSystem=strict)"; }
binds=$(grep -E '^bind\(.*sun_path=' calls | grep -v "sun_path=\"$SCRATCH/run/")
[ -z "$binds" ] || { echo "$binds"; fail "an ipc socket outside the runtime directory"; }
proc=$(grep -E '^openat\(AT_FDCWD, "/proc/' calls | grep -vE '= -1 ' | grep -vE '"/proc/(self|thread-self|[0-9]+)/')
[ -z "$proc" ] || { echo "$proc"; fail "brokerd read /proc files ProcSubset=pid hides"; }
dev=$(grep -E '^openat\(AT_FDCWD, "/dev/' calls | grep -vE '= -1 ' | grep -vE '"/dev/(null|zero|full|u?random|tty|pts/|shm/|log")')
[ -z "$dev" ] || { echo "$dev"; fail "brokerd opened devices PrivateDevices= hides"; }
families=$(grep -oE '^socket\(AF_[A-Z0-9]+' calls | sort -u | cut -c8- | tr '\n' ' ')
echo "socket families used: $families"
echo "ok: verify silent, exposure $score (at most $MAX_EXPOSURE), brokerd ran and stopped cleanly under the unit's filters, wrote only data_dir and /run"
