#!/usr/bin/env python3
"""The lecture's syslog excerpt, routed by program: each line is published
on the pubsub channel 'logs' with the topic HOST/PROGRAM ("amd64/sshd"),
and subscribers choose with a topic pattern: 'amd64/sshd' gets exactly the
sshd lines, '+/kernel' the kernel's from any host, '#' everything.

    syslog.py [FILE]        (default: the excerpt, tests/data/syslog.sample)
"""
import os
import re
import sys

import pubsub

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data",
                      "syslog.sample")
# "Sep 19 14:20:18 amd64 /usr/sbin/cron[29278]: ..." -> host amd64, program cron
LINE = re.compile(r"^[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d (\S+) (?:\S*/)?([^\s\[:/]+)[\[:]")
END = "-- end of "
PATTERNS = ["amd64/sshd", "amd64/cron", "amd64/syslog-ng", "+/kernel", "#"]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else SAMPLE
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    subscribers = {}
    for pattern in PATTERNS:
        s = pubsub.connect(name="syslog " + pattern)
        s.subscribe("logs", pattern)
        subscribers[pattern] = s
    with pubsub.connect(name="syslog publisher") as pub:
        for line in lines:
            m = LINE.match(line)
            pub.publish("logs", "%s/%s" % m.groups() if m else "unknown/unknown", line)
        # Then an end mark for each subscriber, on a topic its pattern matches:
        # one publisher's messages arrive in order, so it has all its lines then.
        for pattern in PATTERNS:
            pub.publish("logs", pattern.replace("+", "amd64").replace("#", "end"), END + pattern)
        pub.flush()
    print("published %d lines of %s" % (len(lines), os.path.basename(path)))
    for pattern, s in subscribers.items():
        got = []
        for m in s.messages(timeout=10):
            if m.text == END + pattern:
                break
            if not m.text.startswith(END):
                got.append(m)
        topics = sorted({m.topic for m in got})
        print("%-16s %3d lines  %s" % (pattern, len(got), " ".join(topics)))
        s.close()

if __name__ == "__main__":
    main()
