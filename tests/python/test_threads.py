"""One client shared by many threads, as libpubsub allows: ctypes.CDLL
releases the GIL around every foreign call, so a thread blocked in recv()
stops neither the other threads of the process nor their calls on the same
client, and every message reaches exactly one receiving thread."""

import collections
import select
import threading
import time

import pubsub


def test_blocked_recv_does_not_block_publish(connect):
    c, other = connect(), connect()
    c.subscribe("wake")
    c.subscribe("mine")
    got = []
    t = threading.Thread(target=lambda: got.append(c.recv(timeout=30)))
    t.start()
    # The other thread is inside ps_recv() now or soon; meanwhile this one
    # publishes through the same client and receives what it published.
    start = time.monotonic()
    for i in range(200):
        c.publish("other", "t", str(i))
    c.flush(timeout=10)
    took = time.monotonic() - start
    assert t.is_alive(), "recv() returned before anything was sent to it"
    assert took < 10
    other.publish("wake", "t", "now")
    other.flush()
    t.join(10)
    assert not t.is_alive() and got[0].text == "now"


def test_blocking_call_releases_the_gil(connect):
    """A thread inside one long C call (a sync message nobody has confirmed
    yet) leaves the GIL to the others: this thread runs, publishes through
    the same client and flushes while that call is still blocked.  Were the
    GIL held (ctypes.PyDLL), nothing here would run until it returned."""
    c, receiver = connect(), connect()
    receiver.subscribe("b")
    result = []
    t = threading.Thread(target=lambda: result.append(c.publish_sync("b", None, "x", timeout=20)))
    t.start()
    # The message reached the receiver: the sync call is in flight.
    assert select.select([receiver.fileno()], [], [], 10)[0]
    for i in range(100):
        c.publish("other", "t", str(i))
    c.flush(timeout=10)
    assert t.is_alive(), "the sync call returned before its receiver confirmed"
    receiver.recv(5)  # confirms it
    t.join(10)
    assert result == [(1, 1)]


def test_threads_share_one_client(connect):
    pub, sub = connect(), connect()
    sub.subscribe("shared")
    threads, per_thread = 8, 500
    received = collections.Counter()
    lock = threading.Lock()

    def publisher(n):
        for i in range(per_thread):
            pub.publish("shared", "t", "%d/%d" % (n, i))

    def receiver():
        for m in sub.messages(timeout=2):
            with lock:
                received[m.text] += 1

    rs = [threading.Thread(target=receiver) for _ in range(4)]
    ps = [threading.Thread(target=publisher, args=(n,)) for n in range(threads)]
    for t in rs + ps:
        t.start()
    for t in ps:
        t.join()
    pub.flush(timeout=20)
    for t in rs:
        t.join(60)
    want = {"%d/%d" % (n, i) for n in range(threads) for i in range(per_thread)}
    assert set(received) == want and max(received.values()) == 1


def test_threads_request_through_one_client(connect):
    client, server = connect(), connect()
    server.subscribe("q", responder=True)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                m = server.recv(timeout=0.2)
            except pubsub.Timeout:
                continue
            m.reply(m.data[::-1])

    s = threading.Thread(target=serve)
    s.start()
    results = {}

    def ask(n):
        results[n] = [client.request("q", None, "%d-%d" % (n, i), timeout=10).text
                      for i in range(20)]

    ts = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    s.join()
    assert results == {n: [("%d-%d" % (n, i))[::-1] for i in range(20)] for n in range(6)}
