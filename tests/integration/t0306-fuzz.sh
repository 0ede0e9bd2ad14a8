#!/bin/bash
# A brief libFuzzer run of the wire codec, the config loader and the
# cluster's link protocol (the long runs are `make fuzz`, which then runs
# the soak, left out here): any crash, leak or sanitizer report fails.
. "$(dirname "$0")/lib.sh"

make -s -C "$ROOT" fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-15}" SOAK_SECONDS=0 > fuzz.out 2>&1 || {
    tail -20 fuzz.out
    fail "fuzzing found a problem (or could not build), see above"
}
cat fuzz.out
runs=$(grep -c "^Done [0-9]* runs" fuzz.out)
expect_eq "$runs" 3 "fuzz targets that ran to the end"
