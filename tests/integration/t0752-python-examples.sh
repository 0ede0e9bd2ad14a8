#!/bin/bash
# The lecture's examples in Python (examples/lecture/), each run against a
# broker started with conf/lecture.conf and its output checked: the
# 100-thread race exact over the broker and not in one process,
# producers and consumers in processes of their own, Event, BoundedSemaphore,
# the four elementary kinds and the syslog excerpt routed by program.
. "$(dirname "$0")/lib.sh"
start_lecture_broker
run_pytest "every example in examples/lecture/" test_examples.py
