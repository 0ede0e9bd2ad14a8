#!/bin/bash
# Issue 15.8, nothing in data_dir or beside a key is followed out of it.
# The promise: store files are opened without following symlinks; a
# data_dir or queue directory writable by others is refused; pctl keygen
# --force does not follow a planted NAME.key; a key file readable by group
# or others is refused.  Broken behaviour: a planted
# queues/jobs/0000000000000001.seg -> victim made the broker (as root)
# write queued messages into the victim file; a data_dir mode 0777 was
# used; keygen --force chmod-ed the symlink's target 0600; a key file 0640
# was accepted.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

# A planted segment symlink.
mkdir -p data/queues/jobs
echo "root's secret" > victim && chmod 600 victim
cp victim victim.orig
ln -s "$SCRATCH/victim" data/queues/jobs/0000000000000001.seg
PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; } );
EOF2
if "$BUILD/brokerd" --check -c b.conf > /dev/null 2>&1; then
    ( start_broker -c b.conf
      "$BUILD/ppub" -c jobs --confirm "planted message" > /dev/null 2>&1
      stop_broker ) > /dev/null 2>&1
fi
cmp -s victim victim.orig || problem "the broker wrote through data/queues/jobs/0000000000000001.seg into the victim ($(stat -c %s victim) bytes now)"

# A data_dir writable by others.
mkdir -m 777 loose && chmod 777 loose
sed "s|$SCRATCH/data|$SCRATCH/loose|" b.conf > loose.conf
timeout 5 "$BUILD/brokerd" -c loose.conf > loose.out 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || problem "brokerd started with a data_dir of mode 0777 (exit $rc)"

# pctl keygen --force and a planted NAME.key.
echo "another secret" > victim2 && chmod 644 victim2
ln -s "$SCRATCH/victim2" planted.key
"$BUILD/pctl" keygen --force planted > /dev/null 2>&1
[ "$(stat -c %a victim2)" = 644 ] && [ "$(cat victim2)" = "another secret" ] ||
    problem "pctl keygen --force followed planted.key (victim now mode $(stat -c %a victim2))"

# A server key file readable by its group.
"$BUILD/pctl" keygen server > /dev/null && "$BUILD/pctl" keygen admin > admin.z85 || fail "pctl keygen exited $?"
cat > k.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data2";
           curve = { secret_key_file = "$SCRATCH/server.key"; }; };
security = { clients = ( { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin" ]; } ); };
EOF2
"$BUILD/brokerd" --check -c k.conf > k.out 2>&1 || fail "--check of the CURVE file with a 0600 key: $(cat k.out)"
chmod 640 server.key
"$BUILD/brokerd" --check -c k.conf > k.out 2>&1 && problem "--check accepts a secret key file of mode 0640"
verdict "planted segment not followed; data_dir 0777 refused (exit $rc); keygen --force did not follow planted.key; key file 0640 refused"
