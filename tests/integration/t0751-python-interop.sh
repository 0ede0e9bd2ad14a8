#!/bin/bash
# A Python client with ppub and psub, in the twelve combinations, both ways
# round (a Python responder answering a C requester and the reverse), on a
# broker started with conf/lecture.conf.
. "$(dirname "$0")/lib.sh"
start_lecture_broker
run_pytest "Python and ppub/psub in the twelve combinations, both ways" test_interop.py
