#!/bin/bash
# A message whose --confirm send was confirmed survives kill -9 of the broker:
# batches are published with ppub --confirm while the broker is killed in the
# middle of the stream; after a restart every confirmed batch is consumable.
# Both fsync policies: "batch" (group commit) and "always".
. "$(dirname "$0")/lib.sh"

summary=
for policy in batch always; do
    PORT=$(free_port)
    cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data.$policy";
           fsync = "$policy"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; max_queued = 1000000; } );
EOF
    start_broker -c b.conf

    # The writer: batch after batch of 200 numbered messages, each batch noted
    # only once ppub (which waits for every confirm) said it was confirmed.
    (
        b=0
        while :; do
            b=$((b + 1))
            seq -f "$b-%g" 1 200 | "$BUILD/ppub" -c jobs --confirm --timeout 2000 2>/dev/null || exit 0
            echo "$b" >> confirmed
        done
    ) &
    writer=$!
    wait_for_file_lines confirmed 25 30
    kill -9 "$BROKER_PID"
    wait "$writer"
    n_confirmed=$(wc -l < confirmed)

    start_broker -c b.conf
    "$BUILD/psub" -c jobs --timeout 1500 > got || fail "psub after restart exited $?"
    grep -q "recovered" brokerd.log || fail "broker did not report a recovery"

    missing=0
    while read -r b; do
        have=$(grep -c "^$b-" got)
        [ "$have" -ge 200 ] || { echo "batch $b: $have of 200 messages" >&2; missing=$((missing + 1)); }
    done < confirmed
    [ "$missing" = 0 ] || fail "$missing of $n_confirmed confirmed batches lost messages"
    expect_eq "$(sort got | uniq -d | wc -l)" 0 "duplicated messages"
    expect_eq "$(grep -cv '^[0-9]*-[0-9]*$' got)" 0 "messages that were never sent"
    summary+="fsync $policy: $n_confirmed confirmed batches of 200 all recovered ($(wc -l < got) consumed); "
    stop_broker
    rm -f confirmed got
done
echo "ok: $summary"
