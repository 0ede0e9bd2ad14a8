"""Fixtures of the Python tests: the broker the integration script started
(from conf/lecture.conf, named by $PUBSUB_BROKER), brokers of their own for
what needs another configuration, clients closed after each test, and the
paths of the build tree ($BUILD) and the source tree.

tests/integration/t07NN-python-*.sh run these with PYTHONPATH=python and
PUBSUB_LIBRARY=$BUILD/libpubsub.so.1.
"""

import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

import pubsub

BUILD = os.environ.get("BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "lecture")


_given = set()


def free_port():
    """A loopback port nobody listens on, below the kernel's ephemeral
    range (one from that range may be taken by an outgoing connection
    before the broker binds it), and not given out before in this run."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(1000):
        port = random.randrange(10000, max(low, 10001))
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def connect_when_up(endpoint, proc, limit=20.0, **options):
    """A client of the broker proc started, once it answers."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return pubsub.connect(endpoint, timeout=0.5, **options)
        except pubsub.Unreachable:
            if proc.poll() is not None:
                raise RuntimeError("brokerd exited %d at start" % proc.returncode)
            if time.monotonic() > deadline:
                raise


def _die_with_parent():
    """In the broker's process before exec: it gets SIGKILL when pytest goes,
    even when pytest is killed before its fixtures could stop it."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Broker:
    """A brokerd of a test's own, on a free port, in a directory of its own."""

    def __init__(self, directory, conf, ipc=False, **fields):
        self.dir = str(directory)
        self.endpoint = ("ipc://%s/b.sock" % self.dir if ipc else
                         "tcp://127.0.0.1:%d" % free_port())
        path = os.path.join(self.dir, "b.conf")
        with open(path, "w") as f:
            f.write(conf.format(endpoint=self.endpoint, dir=self.dir, uid=os.getuid(), **fields))
        self.log = open(os.path.join(self.dir, "brokerd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "brokerd"), "-c", path],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)

    def wait_up(self, **options):
        connect_when_up(self.endpoint, self.proc, **options).close()
        return self

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


# The broker for tests of semantics: a queue, a broadcast and a retaining
# pubsub channel of their own, a small queue for its limit, small messages.
TEST_CONF = """
broker = {{
  endpoints = [ "{endpoint}" ];
  data_dir = "{dir}/data";
  auto_create = "pubsub";
  max_message_size = 65536;
}};
channels = (
  {{ name = "q"; type = "queue"; }},
  {{ name = "small"; type = "queue"; max_queued = 3; }},
  {{ name = "b"; type = "broadcast"; }},
  {{ name = "p"; type = "pubsub"; retain = true; }}
);
"""

# A broker that creates no channels and lets this uid do everything but
# publish on 'closed' (ipc peers are known by their uid).
STRICT_CONF = """
broker = {{
  endpoints = [ "{endpoint}" ];
  data_dir = "{dir}/data";
  auto_create = "none";
}};
channels = (
  {{ name = "open"; type = "pubsub"; }},
  {{ name = "closed"; type = "pubsub"; }}
);
security = {{ clients = (
  {{ name = "tester"; uid = {uid}; allow = [ "admin", "publish:open", "subscribe:*", "request:*" ]; }}
); }};
"""


@pytest.fixture(scope="session")
def test_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("test-broker"), TEST_CONF).wait_up()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def strict_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("strict-broker"), STRICT_CONF, ipc=True).wait_up()
    yield b
    b.stop()


@pytest.fixture
def connect(test_broker):
    """connect(**options): a client of the test broker, closed after the test.
    Queue 'q' is drained afterwards, so no test sees another's leftovers."""
    made = []

    def make(endpoint=None, **options):
        c = pubsub.connect(endpoint or test_broker.endpoint, **options)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
    with pubsub.connect(test_broker.endpoint) as d:
        d.subscribe("q")
        for m in d.messages(timeout=0.05):
            m.ack()


@pytest.fixture
def lecture_broker():
    """The endpoint of the broker the integration script started with
    conf/lecture.conf."""
    endpoint = os.environ.get("PUBSUB_BROKER")
    if not endpoint:
        pytest.fail("$PUBSUB_BROKER is not set: run through tests/integration/t07*-python-*.sh")
    return endpoint


def run_example(name, *args, timeout=120):
    """Runs examples/lecture/NAME with ARGS; returns its stdout, failing the
    test on a nonzero exit."""
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "%s exited %d:\n%s%s" % (name, p.returncode, p.stdout, p.stderr)
    return p.stdout
