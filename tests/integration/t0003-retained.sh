#!/bin/bash
# Retained values: the last value per topic is handed to every new matching
# subscriber first (marked retained); an empty --retain clears it.
. "$(dirname "$0")/lib.sh"
start_broker

"$BUILD/ppub" -c logs -t room/temp --retain 20 || fail "retain"
"$BUILD/ppub" -c logs -t room/temp --retain 21 || fail "retain"
"$BUILD/ppub" -c logs -t room/hum --retain 40 || fail "retain"
"$BUILD/ppub" -c logs -t room/temp "not retained" || fail "publish"
got=$("$BUILD/psub" -c logs -t 'room/#' -n 2 --timeout 2000 | sort | tr '\n' ' ')
expect_eq "$got" "21 40 " "retained values for a late subscriber"
json=$("$BUILD/psub" -c logs -t room/temp -n 1 --timeout 2000 --format json -v)
expect_eq "$(echo "$json" | jq -r .retained)" "true" "the retained flag in json"
# An empty retained message clears the topic.
printf '' | "$BUILD/ppub" -c logs -t room/temp --retain --raw || fail "clearing"
got=$("$BUILD/psub" -c logs -t 'room/#' --timeout 800 | tr '\n' ' ')
expect_eq "$got" "40 " "after clearing room/temp"
expect_exit 4 "$BUILD/ppub" -c alerts --retain "retain on broadcast"
echo "ok: retained values delivered first, replaced, cleared"
