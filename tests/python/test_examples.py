"""Every program in examples/lecture/, run as a user runs it (no arguments
but for the race, which runs smaller), against the broker started with
conf/lecture.conf, and its output checked."""

import importlib.util
import os
import re

from conftest import EXAMPLES, ROOT, run_example


def test_race(lecture_broker):
    out = run_example("race.py", "--threads", "100", "--increments", "300")
    assert "100 threads x 300 increments, want 30000" in out
    assert "over the broker: Ergebnis: 30000 (exact)" in out
    assert re.search(r"in one process:  Ergebnis: \d+", out)


def test_race_in_process_loses_updates():
    """The lecture's point, at the lecture's size: without the broker the
    threads lose updates."""
    spec = importlib.util.spec_from_file_location("race", os.path.join(EXAMPLES, "race.py"))
    race = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(race)
    assert race.in_process(100, 99999) < 100 * 99999


def test_producer_consumer(lecture_broker):
    out = run_example("producer_consumer.py")
    assert "60 items from 3 producers, 60 consumed, 0 missing, 0 twice" in out
    counts = [int(n) for n in re.findall(r"consumer \d: consumed (\d+) items", out)]
    assert len(counts) == 2 and sum(counts) == 60
    assert len(re.findall(r"producer \d: made 20 items", out)) == 3


def test_event(lecture_broker):
    out = run_example("event.py")
    assert "ev.set(): 3 of 3 waiters confirmed" in out
    assert len(re.findall(r"waiter \d: woke, the event is set after \d+ ms", out)) == 3


def test_semaphore(lecture_broker):
    out = run_example("semaphore.py")
    most = int(re.search(r"5 workers passed the critical section, at most (\d) inside", out).group(1))
    assert 1 <= most <= 2
    assert "release() without acquire(): ValueError: Semaphore released too many times" in out
    assert "2 of 2 tokens back in the queue" in out


def test_four_kinds(lecture_broker):
    out = run_example("kind1_async_message.py")
    assert re.search(r"sender: publish\(\) returned after [\d.]+ ms; nobody has received", out)
    assert "receiver, later: build 1" in out
    out = run_example("kind2_sync_message.py")
    assert out.index("receiver: disk full") < out.index("sender: 1/1 confirmed after")
    waited = int(re.search(r"confirmed after (\d+) ms", out).group(1))
    assert waited >= 250  # until the busy receiver had it (0.3 s, begun just before)
    out = run_example("kind3_async_request.py")
    assert out.splitlines() == ["client: 3 requests sent, doing something else meanwhile",
                                "client: reply to 'a': 1", "client: reply to 'bb': 2",
                                "client: reply to 'ccc': 3"]
    out = run_example("kind4_sync_request.py")
    assert out == "client: request('how are you?') -> HOW ARE YOU?\n"


def test_syslog(lecture_broker):
    out = run_example("syslog.py")
    with open(os.path.join(ROOT, "tests", "data", "syslog.sample")) as f:
        lines = f.read().splitlines()
    want = {
        "amd64/sshd": sum(" amd64 sshd[" in ln for ln in lines),
        "amd64/cron": sum(re.search(r" amd64 \S*/cron\[", ln) is not None for ln in lines),
        "amd64/syslog-ng": sum(" amd64 syslog-ng[" in ln for ln in lines),
        "+/kernel": sum(" kernel: " in ln for ln in lines),
        "#": len(lines),
    }
    assert want["amd64/sshd"] == 67 and want["#"] == 191
    assert "published 191 lines of syslog.sample" in out
    for pattern, n in want.items():
        line = re.search(r"^%s +(\d+) lines  (.*)$" % re.escape(pattern), out, re.M)
        assert line and int(line.group(1)) == n, "%s: %s" % (pattern, out)
        topics = line.group(2).split()
        assert topics == ([pattern.replace("+", "amd64")] if pattern != "#" else
                          ["amd64/cron", "amd64/kernel", "amd64/sshd", "amd64/syslog-ng"])
