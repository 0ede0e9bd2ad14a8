#!/bin/bash
# A config file damaged at random (bytes flipped, cut, doubled, deleted)
# gives `brokerd --check` either success or FILE:LINE errors and exit 1,
# never a crash, a hang or output without a line number.
. "$(dirname "$0")/lib.sh"

/usr/bin/python3 - "$ROOT/conf/brokerd.conf" 400 <<'PY'
import random, sys
src = open(sys.argv[1], "rb").read()
rng = random.Random(5242)
for i in range(int(sys.argv[2])):
    b = bytearray(src)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["flip", "cut", "dup", "del", "junk"])
        pos = rng.randrange(len(b)) if b else 0
        if op == "flip" and b:
            b[pos] ^= 1 << rng.randrange(8)
        elif op == "cut":
            del b[pos:]
        elif op == "dup":
            b[pos:pos] = b[pos:pos + rng.randint(1, 80)]
        elif op == "del":
            del b[pos:pos + rng.randint(1, 40)]
        else:
            b[pos:pos] = bytes(rng.choice(b'{}[]();=",#/\\\n\0 x1') for _ in range(rng.randint(1, 8)))
    open(f"m{i:03d}.conf", "wb").write(bytes(b))
PY
ok=0 bad=0
for f in m*.conf; do
    timeout 10 "$BUILD/brokerd" --check -c "$f" > out 2>&1
    rc=$?
    case $rc in
    0) ok=$((ok + 1)) ;;
    1)
        bad=$((bad + 1))
        # Every error line names the file and a line number.
        if grep -v "^$f:[0-9][0-9]*: " out | grep -q .; then
            cat out
            fail "$f: an error line without FILE:LINE"
        fi
        grep -q "^$f:[0-9][0-9]*: " out || fail "$f: exit 1 without an error line"
        ;;
    *)
        cat out
        fail "$f: brokerd --check exited $rc (crash or hang)"
        ;;
    esac
done
echo "ok: $((ok + bad)) damaged files: $ok still valid, $bad rejected with FILE:LINE errors"
[ "$bad" -gt 100 ] || fail "only $bad of the damaged files were rejected"
