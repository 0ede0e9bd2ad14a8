"""A Python client and the C tools (build/ppub, build/psub) on the broker
started with conf/lecture.conf, in the twelve combinations of the lecture:
queue / broadcast / pubsub x async message, sync message, async request,
sync request, each way round: Python sends and psub receives or answers,
ppub sends and Python receives or answers."""

import json
import os
import subprocess

import pytest

import pubsub
from conftest import BUILD

CHANNELS = [("jobs", None), ("alerts", None), ("logs", "py/interop")]
KINDS = ["async-message", "sync-message", "async-request", "sync-request"]
COMBINATIONS = [(ch, topic, kind) for ch, topic in CHANNELS for kind in KINDS]
IDS = ["%s-%s" % (ch, kind) for ch, _, kind in COMBINATIONS]


def tool_args(channel, topic):
    return ["-c", channel] + (["-t", topic] if topic else [])


def start_psub(endpoint, *args):
    """psub in the background, once it is subscribed (its -v line)."""
    p = subprocess.Popen([os.path.join(BUILD, "psub"), "-v", "-b", endpoint] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    assert "subscribed" in line, "psub: %s" % line
    return p


def ppub(endpoint, *args):
    return subprocess.Popen([os.path.join(BUILD, "ppub"), "-b", endpoint] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, what):
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, "%s exited %d: %s" % (what, p.returncode, err)
    return out


@pytest.mark.parametrize("channel,topic,kind", COMBINATIONS, ids=IDS)
def test_python_to_c(lecture_broker, channel, topic, kind):
    payload = "from python, %s on %s" % (kind, channel)
    with pubsub.connect(lecture_broker) as c:
        if kind.endswith("message"):
            p = start_psub(lecture_broker, *tool_args(channel, topic), "-n", "1", "--timeout", "10000",
                           "--format", "json")
            if kind == "async-message":
                c.publish(channel, topic, payload)
                c.flush()
            else:
                assert c.publish_sync(channel, topic, payload) == (1, 1)
            got = json.loads(finish(p, "psub"))
            assert (got["channel"], got["topic"], got["payload"]) == (channel, topic or "", payload)
        else:
            p = start_psub(lecture_broker, *tool_args(channel, topic), "--reply", "tr a-z A-Z",
                           "-n", "1", "--timeout", "10000")
            if kind == "async-request":
                reply = c.request_async(channel, topic, payload).result(10)
            else:
                reply = c.request(channel, topic, payload)
            assert reply.text == payload.upper()
            finish(p, "psub --reply")


@pytest.mark.parametrize("channel,topic,kind", COMBINATIONS, ids=IDS)
def test_c_to_python(lecture_broker, channel, topic, kind):
    payload = "from ppub, %s on %s" % (kind, channel)
    with pubsub.connect(lecture_broker) as c:
        responder = kind.endswith("request")
        c.subscribe(channel, topic or "#", responder=responder)
        args = tool_args(channel, topic) + {"async-message": [], "sync-message": ["--sync"],
                                            "async-request": ["--request", "--async"],
                                            "sync-request": ["--request"]}[kind]
        p = ppub(lecture_broker, *(args + [payload]))
        m = c.recv(10)
        assert m.text == payload and m.channel == channel and m.topic == (topic or "")
        assert m.is_request == responder
        if responder:
            m.reply(m.data[::-1])
        m.ack()
        out = finish(p, "ppub")
        if kind == "async-request":
            # ppub --async shows the ticket as it is issued, then the reply
            # as it is picked up (ppub(1)).
            assert out == "ticket 1 issued\nticket 1: " + payload[::-1] + "\n"
        else:
            assert out == (payload[::-1] + "\n" if responder else "")
