#!/bin/bash
# The Python package (python/pubsub) against real brokers: every call, every
# exception class, binary payloads, one client shared by threads (and the
# GIL released while a call blocks), asyncio through ps_fd().  The tests
# start brokers of their own for the configurations they need.
. "$(dirname "$0")/lib.sh"
start_lecture_broker
run_pytest "API, errors, threads, asyncio" test_api.py test_threads.py test_asyncio.py
