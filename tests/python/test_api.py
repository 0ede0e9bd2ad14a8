"""Every call of the pubsub package against a real broker: connecting,
the four kinds on each channel type, message attributes, binary and text
payloads, retained values, confirms, acknowledgements and redelivery,
surveys, administration, the file descriptor, closing, and the docs."""

import errno
import json
import os
import pydoc
import re
import select
import subprocess
import threading
import time

import pytest

import pubsub


def test_version_and_docs():
    assert pubsub.library_version() == "1.0.0" == pubsub.__version__
    text = pydoc.render_doc(pubsub, renderer=pydoc.plaintext)
    for word in ("publish", "subscribe", "asyncio", "NoResponders", "PUBSUB_LIBRARY"):
        assert word in text
    for name in pubsub.__all__:
        obj = getattr(pubsub, name)
        if callable(obj):
            assert obj.__doc__, "%s has no docstring" % name
    for name, fn in vars(pubsub.Client).items():
        if callable(fn) and not name.startswith("_"):
            assert fn.__doc__, "Client.%s has no docstring" % name


def test_library_found(monkeypatch):
    """From the source tree the tree's own build is tried first; an
    installed package tries the dynamic linker, then the directory make
    install wrote, if it wrote one (it writes none for a directory the
    linker searches); PUBSUB_LIBRARY overrides both."""
    from pubsub import _capi
    from conftest import ROOT
    monkeypatch.delenv("PUBSUB_LIBRARY", raising=False)
    assert _capi.candidates()[:2] == [os.path.join(ROOT, "build", "libpubsub.so.1"), "libpubsub.so.1"]
    monkeypatch.setattr(_capi, "INSTALLED_LIBDIR", "/opt/x/lib")
    assert _capi.candidates()[:2] == ["libpubsub.so.1", "/opt/x/lib/libpubsub.so.1"]
    monkeypatch.setattr(_capi, "INSTALLED_LIBDIR", "")
    assert _capi.candidates()[:1] == ["libpubsub.so.1"]
    assert all(os.sep not in name for name in _capi.candidates())
    monkeypatch.setenv("PUBSUB_LIBRARY", "/some/where/libpubsub.so.1")
    assert _capi.candidates() == ["/some/where/libpubsub.so.1"]


def test_connect_name_admin(connect):
    c = connect(name="py-admin-test")
    names = [cl.get("name") for cl in c.admin("clients")]
    assert "py-admin-test" in names
    status = c.admin("status")
    assert status["version"] == "1.0.0" and status["clients"] >= 1
    chans = {ch["name"]: ch["type"] for ch in c.admin("channels")}
    assert chans["q"] == "queue" and chans["b"] == "broadcast" and chans["p"] == "pubsub"
    # What `pctl channels --json` prints.
    from conftest import BUILD
    pctl = subprocess.run([os.path.join(BUILD, "pctl"), "-b", c.endpoint, "channels", "--json"],
                          capture_output=True, text=True, check=True).stdout
    assert [ch["name"] for ch in json.loads(pctl)] == [ch["name"] for ch in c.admin("channels")]
    with pytest.raises(pubsub.PubsubError):
        c.admin("nonsense")


def test_default_endpoint_from_environment(test_broker, monkeypatch):
    monkeypatch.setenv("PUBSUB_BROKER", test_broker.endpoint)
    with pubsub.connect() as c:
        assert c.endpoint == test_broker.endpoint
        c.publish("any", "t", b"x")
        c.flush()
    assert pubsub.DEFAULT_ENDPOINT == "tcp://127.0.0.1:5242"


def test_pubsub_message_attributes(connect):
    sub, pub = connect(), connect()
    sub.subscribe("attrs", "room/+")
    pub.publish("attrs", "room/temp", "21.5")
    pub.publish("attrs", "hall/temp", "not matched")
    pub.publish("attrs", "room/hum", b"40")
    pub.flush()
    m1, m2 = sub.recv(5), sub.recv(5)
    assert (m1.channel, m1.topic, m1.data, m1.text) == ("attrs", "room/temp", b"21.5", "21.5")
    assert m2.topic == "room/hum" and m2.seq == m1.seq + 2  # the hall message has #2
    assert not (m1.retained or m1.redelivered or m1.is_request) and m1.gap == 0
    assert m1.broker and m1.epoch and (m1.broker, m1.epoch) == (m2.broker, m2.epoch)
    assert bytes(m1) == b"21.5" and "room/temp" in repr(m1)
    with pytest.raises(pubsub.Timeout):
        sub.recv(0.1)


def test_binary_and_text_payloads(connect):
    sub, pub = connect(), connect()
    sub.subscribe("bin")
    every_byte = bytes(range(256)) * 4
    big = os.urandom(60000)
    payloads = [every_byte, b"", b"\0", big, bytearray(b"ba"), memoryview(b"mv")]
    for p in payloads:
        pub.publish("bin", "t", p)
    pub.publish("bin", "t", "Grüße, ☃")  # str goes as UTF-8
    pub.publish("bin", "t", None)
    pub.flush()
    got = [sub.recv(5).data for _ in range(len(payloads) + 2)]
    assert got[:len(payloads)] == [bytes(p) for p in payloads]
    assert got[-2] == "Grüße, ☃".encode("utf-8") and got[-1] == b""
    pub.publish("bin", "t", b"\xff\xfe")
    pub.flush()
    with pytest.raises(UnicodeDecodeError):
        sub.recv(5).text
    with pytest.raises(TypeError):
        pub.publish("bin", "t", 42)


def test_names_checked(connect):
    c = connect()
    with pytest.raises(ValueError):
        c.publish("bad\0name", "t", b"x")
    with pytest.raises(TypeError):
        c.subscribe(7)
    with pytest.raises(pubsub.BadName) as e:
        c.publish("bad name!", "t", b"x")
    assert e.value.errno == errno.EINVAL and isinstance(e.value, ValueError)
    with pytest.raises(pubsub.BadName):
        c.publish("über", "t", b"x")  # channel names are ASCII
    c.subscribe("utf")
    c.publish("utf", "café/tópic", b"x")  # topics are UTF-8
    assert c.recv(5).topic == "café/tópic"


def test_retain_and_unsubscribe(connect):
    pub, late = connect(), connect()
    pub.publish("p", "room/temp", "21.5", retain=True)
    pub.flush()
    late.subscribe("p", "room/#")
    m = late.recv(5)
    assert m.retained and m.text == "21.5"
    late.unsubscribe("p", "room/#")
    pub.publish("p", "room/temp", "22", confirm=True)
    pub.publish("p", "room/temp", "", retain=True)  # clears it
    pub.flush()
    with pytest.raises(pubsub.Timeout):
        late.recv(0.2)
    with pytest.raises(pubsub.WrongChannelType):
        pub.publish("q", None, "x", retain=True)
        pub.flush()


def test_queue_ack_and_redelivery(connect):
    pub, c1, c2 = connect(), connect(window=1), connect()
    pub.publish("q", None, "job", confirm=True)
    pub.flush()
    c1.subscribe("q")
    m = c1.recv(5)
    assert m.text == "job" and not m.redelivered and m.topic == ""
    c1.close()  # without ack: the job goes back at once
    c2.subscribe("q")
    again = c2.recv(5)
    assert again.text == "job" and again.redelivered
    again.ack()
    with pytest.raises(pubsub.ClientClosed):
        m.ack()


def test_confirm_window(connect):
    # A sliding window of 3 confirms: every publish still goes and is
    # confirmed; a negative window is refused when the client is made.
    pub, c = connect(confirm_window=3), connect()
    for i in range(50):
        pub.publish("q", None, str(i), confirm=True)
    pub.flush()
    c.subscribe("q")
    got = []
    for _ in range(50):
        m = c.recv(5)
        got.append(m.text)
        m.ack()
    assert got == [str(i) for i in range(50)]
    with pytest.raises(ValueError):
        connect(confirm_window=-1)


def test_sync_messages(connect):
    pub, r1, r2 = connect(), connect(), connect()
    with pytest.raises(pubsub.NoResponders):
        pub.publish_sync("b", None, "anyone?")
    r1.subscribe("b")
    r2.subscribe("b")
    done = []
    t = threading.Thread(target=lambda: done.extend([r1.recv(5), r2.recv(5)]))
    t.start()
    got = pub.publish_sync("b", None, "both")
    t.join()
    assert got == (2, 2) and str(got) == "2/2" and got.confirmed == 2
    assert [m.text for m in done] == ["both", "both"]
    # r2 does not read: 1 of 2 confirm.
    t = threading.Thread(target=lambda: r1.recv(5))
    t.start()
    with pytest.raises(pubsub.PartialConfirm) as e:
        pub.publish_sync("b", None, "half", timeout=2)
    t.join()
    assert (e.value.confirmed, e.value.expected) == (1, 2) and "1/2" in str(e.value)
    r2.recv(5)
    # Nobody reads: none confirm in time.
    with pytest.raises(pubsub.Timeout) as e:
        pub.publish_sync("b", None, "none", timeout=0.3)
    assert (e.value.confirmed, e.value.expected) == (0, 2)
    assert isinstance(e.value, TimeoutError)


def test_sync_flag_and_flush(connect):
    pub = connect()
    pub.publish("b", None, "nobody", sync=True)
    with pytest.raises(pubsub.NoResponders):
        pub.flush()
    pub.flush()  # reported once


def test_queue_sync_waits_for_consumer(connect):
    pub, cons = connect(), connect()
    with pytest.raises(pubsub.Timeout) as e:
        pub.publish_sync("q", None, "kept", timeout=0.3)
    assert (e.value.confirmed, e.value.expected) == (0, 1)
    cons.subscribe("q")
    m = cons.recv(5)
    assert m.text == "kept"
    m.ack()


def test_requests(connect):
    client, server = connect(), connect()
    server.subscribe("q", responder=True)

    def serve(n):
        for _ in range(n):
            m = server.recv(5)
            assert m.is_request
            if m.data == b"fail":
                m.reply("it failed", error=True)
            else:
                m.reply(m.data.upper())

    t = threading.Thread(target=serve, args=(4,))
    t.start()
    reply = client.request("q", None, b"hello")
    assert reply.data == b"HELLO" and reply.ok and reply.status == 0
    with pytest.raises(pubsub.ReplyError) as e:
        client.request("q", None, "fail")
    assert e.value.reply.text == "it failed" and "it failed" in str(e.value)
    with client.request_async("q", None, "a") as t1, client.request_async("q", None, "b") as t2:
        assert t2.result(5).text == "B" and t1.result(5).text == "A"
        assert t1.result().text == "A"  # kept
        assert t1.wait(5) is None  # every reply was returned
    t.join()
    with pytest.raises(pubsub.NoResponders):
        client.request("unanswered", "x", "?")
    with pytest.raises(pubsub.NoResponders):
        client.request_async("unanswered", "x", "?").result(5)


def test_survey_on_broadcast(connect):
    client = connect()
    servers = [connect(), connect()]
    threads = []
    for i, s in enumerate(servers):
        s.subscribe("b", responder=True)

        def serve(s=s, i=i):
            s.recv(5).reply("server %d" % i)

        threads.append(threading.Thread(target=serve))
        threads[-1].start()
    ticket = client.request_async("b", None, "who is there?")
    assert sorted(m.text for m in ticket) == ["server 0", "server 1"]
    for t in threads:
        t.join()


def test_fileno_and_messages(connect):
    c, pub = connect(), connect()
    c.subscribe("fd")
    fd = c.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    pub.publish("fd", "t", "1")
    pub.publish("fd", "t", "2")
    pub.flush()
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert [m.text for m in c.messages(timeout=0.5)] == ["1", "2"]
    assert select.select([fd], [], [], 0)[0] == []  # level-triggered: drained
    assert c.dropped() == 0


def test_close(connect, test_broker):
    c = pubsub.connect(test_broker.endpoint)
    c.subscribe("closing")
    errors = []

    def blocked():
        try:
            c.recv()  # no limit
        except pubsub.ClientClosed as e:
            errors.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    c.close()  # waits for the blocked recv(), which ends
    t.join(5)
    assert not t.is_alive() and len(errors) == 1
    assert c.closed and "closed" in repr(c)
    c.close()
    with pytest.raises(pubsub.ClientClosed):
        c.publish("closing", "t", "x")
    with pubsub.connect(test_broker.endpoint) as d:
        pass
    assert d.closed


def test_limits(connect):
    c = connect()
    with pytest.raises(pubsub.TooLarge) as e:
        c.publish("big", "t", b"x" * 65537)
    assert e.value.errno == errno.EMSGSIZE
    for i in range(3):
        c.publish("small", None, str(i))
    c.publish("small", None, "one too many")
    with pytest.raises(pubsub.LimitReached) as e:
        c.flush()
    assert "full" in str(e.value) and e.value.reason
    d = connect()
    d.subscribe("small")
    for m in d.messages(timeout=0.2):
        m.ack()


def test_strict_broker(strict_broker):
    with pubsub.connect(strict_broker.endpoint) as c:
        with pytest.raises(pubsub.UnknownChannel) as e:
            c.subscribe("nosuch")
        assert "nosuch" in str(e.value) and e.value.errno == errno.ENOENT
        with pytest.raises(pubsub.NotAllowed) as e:
            c.publish("closed", "t", "x")
            c.flush()
        assert e.value.reason and "closed" in e.value.reason
        c.publish("open", "t", "x")
        c.flush()


def test_unreachable():
    from conftest import free_port
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    with pytest.raises(pubsub.Unreachable) as e:
        pubsub.connect(endpoint, timeout=0.3)
    assert isinstance(e.value, ConnectionError) and endpoint in str(e.value)
    with pytest.raises(pubsub.BadName):
        pubsub.connect("nonsense://x")


def test_error_classes():
    from pubsub import errors
    table = {errno.ENOENT: pubsub.UnknownChannel, errno.EPROTOTYPE: pubsub.WrongChannelType,
             errno.EMSGSIZE: pubsub.TooLarge, errno.EACCES: pubsub.NotAllowed,
             errno.ENOBUFS: pubsub.LimitReached, errno.EINVAL: pubsub.BadName,
             errno.EPROTO: pubsub.ProtocolError, errno.EHOSTUNREACH: pubsub.Unreachable,
             errno.ETIMEDOUT: pubsub.Timeout, errors.PS_ENORESP: pubsub.NoResponders,
             errors.PS_EPARTIAL: pubsub.PartialConfirm, errors.PS_EREPLY: pubsub.ReplyError,
             errors.PS_EVERSION: pubsub.VersionMismatch, 12345: pubsub.PubsubError}
    for code, cls in table.items():
        assert errors.error_class(code) is cls
        assert issubclass(cls, pubsub.PubsubError) and issubclass(cls, OSError)
    e = pubsub.Refused(errno.ENOENT, "unknown channel", "no channel 'x'", "publish to 'x'")
    assert str(e) == "publish to 'x': no channel 'x'" and e.strerror == "unknown channel"


def test_curve(tmp_path):
    """curve_server_key and curve_key, from key files as pctl keygen writes them."""
    from conftest import BUILD, Broker
    for name in ("server", "me"):
        subprocess.run([os.path.join(BUILD, "pctl"), "keygen", name], cwd=tmp_path, check=True,
                       capture_output=True)
    me_pub = re.search(r'"(.{40})"', (tmp_path / "me.pub").read_text()).group(1)
    conf = """
broker = {{ endpoints = [ "{endpoint}" ]; data_dir = "{dir}/data";
           curve = {{ secret_key_file = "{dir}/server.key"; }}; }};
security = {{ clients = ( {{ name = "me"; public_key = "{key}"; allow = [ "publish:*", "subscribe:*" ]; }} ); }};
"""
    b = Broker(tmp_path, conf, key=me_pub).wait_up(curve_server_key=str(tmp_path / "server.pub"),
                                       curve_key=str(tmp_path / "me.key"))
    try:
        with pubsub.connect(b.endpoint, curve_server_key=str(tmp_path / "server.pub"),
                            curve_key=str(tmp_path / "me.key")) as c:
            c.subscribe("s")
            c.publish("s", "t", "secret")
            assert c.recv(5).text == "secret"
        # A fresh key pair of our own is not among the broker's clients.
        with pytest.raises(pubsub.NotAllowed):
            pubsub.connect(b.endpoint, curve_server_key=str(tmp_path / "server.pub"))
        with pytest.raises(ValueError):
            pubsub.connect(b.endpoint, curve_key=str(tmp_path / "me.key"))
    finally:
        b.stop()


PAUSE_CONF = """
broker = {{
  endpoints = [ "{endpoint}" ];
  data_dir = "{dir}/data";
  max_message_size = 65536;
}};
channels = (
  {{ name = "full"; type = "queue"; max_queued = 2; overflow = "block"; }},
  {{ name = "side"; type = "pubsub"; }}
);
"""


def test_paused_publisher_that_consumes_gets_its_turn(tmp_path):
    """A client that consumes the full "block" queue it publishes to is
    paused (protocol 1.4): its publish fails with Timeout after pause_wait
    instead of waiting for good, its acknowledgements still go, and every
    publish that returned is delivered once the queue has room."""
    from conftest import Broker
    b = Broker(tmp_path, PAUSE_CONF).wait_up()
    try:
        with pubsub.connect(b.endpoint, pause_wait=0.3, window=10) as c, \
                pubsub.connect(b.endpoint) as other:
            c.subscribe("full")
            c.subscribe("side")
            c.publish("full", None, "first")
            c.publish("full", None, "second")
            held = [c.recv(timeout=5), c.recv(timeout=5)]  # unacknowledged: the queue is full
            big = "x" * 60000
            c.publish("full", None, big)
            sent = 1
            # The broker parks that publish and sends PAUSE.  Until the
            # library has read it, its publishes leave at the speed of the
            # pipes beneath (megabytes, parked by the broker), so the test
            # waits for it: first for the broker's count, then for a
            # message sent after it on the same connection.
            deadline = time.monotonic() + 10
            while other.admin("status")["pauses"] < 1:
                assert time.monotonic() < deadline, "the broker sent no PAUSE"
                time.sleep(0.01)
            other.publish("side", None, "after the pause")
            assert c.recv(timeout=5).text == "after the pause"
            t0 = time.monotonic()
            with pytest.raises(pubsub.Timeout):
                for _ in range(200):  # 12 MB, past the library's 1 MiB send queue
                    c.publish("full", None, big)
                    sent += 1
            assert time.monotonic() - t0 < 10
            for m in held:
                m.ack()
            got = 0
            for m in c.messages(timeout=3):
                got += 1
                m.ack()
            assert got == sent
    finally:
        b.stop()
