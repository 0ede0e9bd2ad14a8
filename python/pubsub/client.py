"""The Client (one connection to brokerd), the Message it receives and the
Ticket of an asynchronous request: the Python face of libpubsub's
ps_client, ps_msg and request tickets, one method per C call.

Blocking calls wait in C with the GIL released.  A wait without a limit
(recv(), Ticket.wait() with timeout=None) waits in slices of SLICE_MS, so
that Ctrl-C reaches the main thread and close() from another thread ends
it; every other wait is bounded by its timeout.  close() waits until the
calls in progress in other threads have returned, as ps_close() requires.
"""

import ctypes
import errno
import json
import os
import re
import sys
import threading
import time
from collections import namedtuple

from . import _capi
from .errors import (PS_ENORESP, PS_EREPLY, PS_EVERSION, ClientClosed, PartialConfirm,
                     ReplyError, Timeout, error_class)

# A wait without a limit waits in slices this long (milliseconds).
SLICE_MS = 200
ENOMSG = errno.ENOMSG  # every reply to a ticket was returned
ETIMEDOUT = errno.ETIMEDOUT


class Confirmed(namedtuple("Confirmed", "confirmed expected")):
    """What publish_sync() returns: the receivers that confirmed and the
    receivers attached (equal on success); str() gives "2/2"."""

    __slots__ = ()

    def __str__(self):
        return "%d/%d" % (self.confirmed, self.expected)


# A key in a key file as `pctl keygen` writes it: public_key = "Z85";
_KEY_RE = re.compile(r'(public_key|secret_key)\s*=\s*"([^"]{40})"')


def _ms(timeout):
    """Seconds (float, None = forever) to the library's milliseconds (-1 = forever)."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError("timeout must be >= 0 seconds or None, not %r" % (timeout,))
    return int(timeout * 1000 + 0.5)


def _slice_ms(deadline):
    """How long the next slice of a wait lasts (ms): SLICE_MS, or less when
    the deadline (time.monotonic() seconds; None for none) comes first."""
    if deadline is None:
        return SLICE_MS
    return max(0, min(SLICE_MS, int((deadline - time.monotonic()) * 1000 + 0.5)))


def _name(value, what):
    """A channel, topic or pattern as the NUL-terminated bytes the C API takes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif not isinstance(value, (bytes, bytearray)):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in value:
        raise ValueError("%s must not contain NUL bytes: %r" % (what, value))
    return bytes(value)


def _payload(data):
    """A payload as bytes: str is encoded as UTF-8, None is empty."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError("data must be bytes, str, bytearray or memoryview, not %s"
                    % type(data).__name__)


def _text(b):
    """Bytes from the library as str (undecodable bytes kept as surrogates)."""
    return b.decode("utf-8", "surrogateescape") if b is not None else None


def _key_file(path, wanted):
    """The keys named in wanted from a key file as `pctl keygen` writes it
    (NAME.key holds both, NAME.pub the public key)."""
    with open(path, encoding="utf-8") as f:
        keys = dict(_KEY_RE.findall(f.read()))
    missing = [k for k in wanted if k not in keys]
    if missing:
        raise ValueError("key file '%s' has no %s (40 characters of Z85)"
                         % (path, " or ".join(missing)))
    return [keys[k] for k in wanted]


def _server_key(value):
    """The broker's public key: 40 characters of Z85, or a file holding it."""
    if len(value) == 40 and not os.path.exists(value):
        return value
    return _key_file(value, ["public_key"])[0]


# The errno values a refusal by the broker arrives as (pubsub.h).
_BROKER_CODES = frozenset([errno.ENOENT, errno.EPROTOTYPE, errno.EMSGSIZE, errno.EACCES,
                           errno.ENOBUFS, errno.EINVAL, errno.EPROTO, errno.ECONNREFUSED,
                           PS_ENORESP, PS_EVERSION])


def _error(lib, cptr, code, operation):
    """The exception for a failed call: errno code, and the broker's own
    sentence for the calling thread when there is one."""
    # First: it holds until this thread's next call.  The library leaves the
    # last broker sentence in place when a later failure was its own (a
    # timeout, say), so it is believed only for the codes the broker sends.
    reason = lib.ps_errmsg(cptr) if code in _BROKER_CODES else None
    strerror = lib.ps_strerror(code).decode("utf-8", "replace")
    return error_class(code)(code, strerror, _text(reason), operation)


class Message:
    """One received message, request or reply.

    Attributes: ``channel`` and ``topic`` (str; topic "" when there is
    none), ``data`` (the payload, bytes), ``text`` (the payload as UTF-8),
    ``seq`` (the channel's sequence number), ``gap`` (messages missed just
    before this one), ``broker`` and ``epoch`` (who delivered it, ints),
    ``retained``, ``redelivered``, ``is_request`` and,
    for replies, ``status`` (0 for a good reply) and ``ok``.
    Acknowledge a queue message with ack(); answer a request with reply().
    """

    __slots__ = ("_lib", "_ptr", "_client", "data", "__weakref__")

    def __init__(self, lib, ptr, client):
        self._lib = lib
        self._ptr = ptr
        self._client = client  # for ack() and reply(); None for replies
        size = lib.ps_msg_size(ptr)
        self.data = ctypes.string_at(lib.ps_msg_data(ptr), size) if size else b""

    def __del__(self):
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._lib.ps_msg_destroy(ctypes.byref(ctypes.c_void_p(ptr)))

    channel = property(lambda self: _text(self._lib.ps_msg_channel(self._ptr)),
                       doc="The channel's name.")
    topic = property(lambda self: _text(self._lib.ps_msg_topic(self._ptr)),
                     doc="The topic (\"\" on queues and broadcast channels).")
    seq = property(lambda self: self._lib.ps_msg_seq(self._ptr),
                   doc="The channel's sequence number of the message.")
    gap = property(lambda self: self._lib.ps_msg_gap(self._ptr),
                   doc="Messages of the channel this client missed just before this one.")
    broker = property(lambda self: self._lib.ps_msg_broker(self._ptr),
                      doc="The id of the broker that delivered it (0 for replies).")
    epoch = property(lambda self: self._lib.ps_msg_epoch(self._ptr),
                     doc="That broker's epoch, new at each of its starts (0 for replies).")
    retained = property(lambda self: bool(self._lib.ps_msg_is_retained(self._ptr)),
                        doc="A retained value, handed over on subscribing.")
    redelivered = property(lambda self: bool(self._lib.ps_msg_is_redelivered(self._ptr)),
                           doc="A queue message delivered before to a consumer that went away, "
                               "or recovered from a durable queue's store at a broker start.")
    is_request = property(lambda self: bool(self._lib.ps_msg_is_request(self._ptr)),
                          doc="A request: answer it with reply().")
    status = property(lambda self: self._lib.ps_msg_status(self._ptr),
                      doc="Replies: 0 for a good reply, else an error reply.")
    ok = property(lambda self: self.status == 0, doc="Replies: not an error reply.")

    @property
    def text(self):
        """The payload decoded as UTF-8 (strict: binary payloads raise)."""
        return self.data.decode("utf-8")

    def ack(self):
        """Acknowledges a queue message: the broker forgets it (until then it
        is delivered again if this client goes away).  No-op for others."""
        c = self._client
        if c is None:
            return
        cptr = c._enter("ack")
        try:
            if self._lib.ps_ack(cptr, self._ptr) < 0:
                raise _error(self._lib, cptr, ctypes.get_errno(), "ack on '%s'" % self.channel)
        finally:
            c._leave()

    def reply(self, data=b"", *, error=False):
        """Answers this request with data (bytes or str).  error=True makes
        the requester fail with ReplyError, data being the error text."""
        c = self._client
        if c is None:
            raise ValueError("a reply cannot be answered")
        payload = _payload(data)
        cptr = c._enter("reply")
        try:
            if self._lib.ps_reply(cptr, self._ptr, payload, len(payload), 1 if error else 0) < 0:
                raise _error(self._lib, cptr, ctypes.get_errno(), "reply on '%s'" % self.channel)
        finally:
            c._leave()

    def __bytes__(self):
        return self.data

    def __repr__(self):
        flags = [n for n in ("retained", "redelivered", "is_request") if getattr(self, n)]
        return "<Message %s%s #%d %r%s>" % (
            self.channel, "/" + self.topic if self.topic else "", self.seq,
            self.data[:40] + (b"..." if len(self.data) > 40 else b""),
            " " + " ".join(flags) if flags else "")


class Ticket:
    """An asynchronous request in flight (kind 3), from request_async().

    ``wait(timeout)`` returns the next reply (a survey on a broadcast or
    pubsub channel has one per responder) or None once all were returned;
    ``result(timeout)`` the first reply, as concurrent.futures does;
    iterating gives every reply.  Usable as a context manager; the ticket
    is released by end(), at the end of the with block or when collected.
    """

    def __init__(self, client, ticket, operation):
        self._client = client
        self._ticket = ticket
        self._operation = operation
        self._first = None  # the first reply, kept for result()
        self._finished = False  # every reply was returned (ENOMSG)

    def wait(self, timeout=None):
        """The next reply (a Message, whose ``status`` says whether the
        responder failed), or None when every reply was returned.  Raises
        NoResponders, Timeout (no more replies in time)."""
        if self._finished:
            return None
        c = self._client
        lib = c._lib
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            cptr = c._enter(self._operation)
            try:
                ptr = lib.ps_request_wait(cptr, self._ticket, _slice_ms(deadline))
                if ptr:
                    m = Message(lib, ptr, None)
                    if self._first is None:
                        self._first = m
                    return m
                err = ctypes.get_errno()
                if err == ENOMSG:
                    self._finished = True
                    return None
                if err != ETIMEDOUT or (deadline is not None and time.monotonic() >= deadline):
                    raise _error(lib, cptr, err, self._operation)
            finally:
                c._leave()

    def result(self, timeout=None):
        """The first reply, waiting up to timeout seconds; raises
        ReplyError when the responder failed, NoResponders, Timeout."""
        m = self._first if self._first is not None else self.wait(timeout)
        if m is None:
            raise Timeout(ETIMEDOUT, "no reply", None, self._operation)
        if m.status:
            e = ReplyError(PS_EREPLY, "the responder failed", None, self._operation)
            e.reply = m
            raise e
        return m

    def __iter__(self):
        """Every reply, until all were returned."""
        while True:
            m = self.wait()
            if m is None:
                return
            yield m

    def end(self):
        """Releases the ticket and any replies not collected."""
        t, self._ticket = self._ticket, None
        c = self._client
        if t is not None and c._ptr is not None:
            try:
                cptr = c._enter("end request")
            except ClientClosed:
                return
            try:
                c._lib.ps_request_end(cptr, t)
            finally:
                c._leave()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.end()

    def __del__(self):
        try:
            self.end()
        except Exception:
            pass


class Client:
    """One connection to brokerd; made by pubsub.connect().

    One client may be used by any number of threads at once; every message
    reaches exactly one of the threads calling recv().  Use it as a context
    manager, or call close().  Within an asyncio event loop, ``await
    client.recv()`` and ``async for m in client`` wait through the event
    loop (ps_fd()), without a thread.
    """

    def __init__(self, endpoint=None, *, name=None, curve_server_key=None, curve_key=None,
                 timeout=3.0, heartbeat=None, heartbeat_timeout=None, window=None,
                 confirm_window=None, pause_wait=None, reconnect=True):
        lib = _capi.load()
        self._lib = lib
        self._ptr = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0  # calls in progress, which close() waits for
        self._closing = False
        self._aio = None  # the asyncio reader, once a coroutine waited on recv()
        if endpoint is None:
            endpoint = os.environ.get("PUBSUB_BROKER") or None
        if curve_server_key is None:
            curve_server_key = os.environ.get("PUBSUB_CURVE_SERVER_KEY") or None
        if curve_key is None:
            curve_key = os.environ.get("PUBSUB_CURVE_KEY") or None
        self.endpoint = endpoint or "tcp://127.0.0.1:5242"
        opts = lib.ps_opts_new()
        if not opts:
            raise MemoryError("ps_opts_new")
        try:
            ints = [(_capi.PS_OPT_TIMEOUT_MS, _ms(timeout)),
                    (_capi.PS_OPT_HEARTBEAT_MS, None if heartbeat is None else _ms(heartbeat)),
                    (_capi.PS_OPT_HEARTBEAT_TIMEOUT_MS,
                     None if heartbeat_timeout is None else _ms(heartbeat_timeout)),
                    (_capi.PS_OPT_WINDOW, window),
                    (_capi.PS_OPT_CONFIRM_WINDOW, confirm_window),
                    (_capi.PS_OPT_PAUSE_WAIT_MS,
                     None if pause_wait is None else -1 if pause_wait < 0 else _ms(pause_wait)),
                    (_capi.PS_OPT_RECONNECT, 1 if reconnect else 0)]
            strs = [(_capi.PS_OPT_NAME, name)]
            if curve_key is not None and curve_server_key is None:
                raise ValueError("curve_key needs the broker's key too (curve_server_key)")
            if curve_server_key is not None:
                strs.append((_capi.PS_OPT_CURVE_SERVER_KEY, _server_key(curve_server_key)))
                if curve_key is not None:
                    pub, sec = (curve_key if isinstance(curve_key, (tuple, list))
                                else _key_file(curve_key, ["public_key", "secret_key"]))
                    strs += [(_capi.PS_OPT_CURVE_PUBLIC_KEY, pub),
                             (_capi.PS_OPT_CURVE_SECRET_KEY, sec)]
            for opt, value in ints:
                if value is not None and lib.ps_opts_set_int(opts, opt, int(value)) < 0:
                    raise ValueError("bad value %r for option %d" % (value, opt))
            for opt, value in strs:
                if value is not None and lib.ps_opts_set_str(opts, opt, _name(value, "option")) < 0:
                    raise ValueError("bad value for option %d" % opt)
            ptr = lib.ps_connect(_name(self.endpoint, "endpoint"), opts)
            if not ptr:
                raise _error(lib, None, ctypes.get_errno(), "connect to %s" % self.endpoint)
            self._ptr = ptr
        finally:
            lib.ps_opts_destroy(ctypes.byref(ctypes.c_void_p(opts)))

    # -- the guard around every call: close() waits for the calls in progress
    def _enter(self, operation):
        with self._lock:
            if self._ptr is None or self._closing:
                raise ClientClosed(operation)
            self._busy += 1
            return self._ptr

    def _leave(self):
        with self._lock:
            self._busy -= 1
            if self._closing and self._busy == 0:
                self._idle.notify_all()

    def _check(self, rc, cptr, operation):
        if rc < 0:
            raise _error(self._lib, cptr, ctypes.get_errno(), operation)
        return rc

    @property
    def closed(self):
        """True once close() was called."""
        return self._ptr is None or self._closing

    def close(self):
        """Says goodbye to the broker (unacknowledged queue messages go to
        other consumers at once) and frees the client.  Waits for calls in
        progress in other threads; blocking recv() calls there end with
        ClientClosed.  Messages not yet sent get a short linger; flush()
        first to be sure they arrived.  Closing twice is harmless."""
        with self._lock:
            if self._ptr is None or self._closing:
                return
            self._closing = True
            while self._busy:
                self._idle.wait()
            ptr = self._ptr
        if self._aio is not None:
            self._aio.detach()
        self._lib.ps_close(ctypes.byref(ctypes.c_void_p(ptr)))
        with self._lock:
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<pubsub.Client %s%s>" % (self.endpoint, " closed" if self.closed else "")

    def fileno(self):
        """ps_fd(): readable while recv() has a message (level-triggered).
        Poll it; do not read or close it."""
        cptr = self._enter("fileno")
        try:
            return self._lib.ps_fd(cptr)
        finally:
            self._leave()

    # -- kind 1 and 2: messages ------------------------------------------
    def publish(self, channel, topic=None, data=b"", *, retain=False, confirm=False, sync=False):
        """Publishes data (bytes; str is sent as UTF-8) to channel: kind 1,
        an asynchronous message.  topic is required on pubsub channels and
        ignored elsewhere.  Returns once the message is in the client's
        send buffer.  retain=True keeps it as the topic's last value (an
        empty message clears it); confirm=True has the broker confirm it;
        sync=True makes it a sync message without waiting: flush() then
        reports any sync message not confirmed by all of its receivers.
        A refusal by the broker is reported by the next flush()."""
        payload = _payload(data)
        flags = ((_capi.PS_RETAIN if retain else 0) | (_capi.PS_CONFIRM if confirm else 0)
                 | (_capi.PS_SYNC if sync else 0))
        ch = _name(channel, "channel")
        cptr = self._enter("publish")
        try:
            if self._lib.ps_publish(cptr, ch, _name(topic, "topic"), payload,
                                    len(payload), flags) < 0:
                raise _error(self._lib, cptr, ctypes.get_errno(), "publish to '%s'" % channel)
        finally:
            self._leave()

    def flush(self, timeout=5.0):
        """The sync point: waits until the broker has handled everything sent
        before and every confirmation asked for has arrived.  Raises the first
        refusal since the last flush (UnknownChannel, ...), NoResponders,
        PartialConfirm or Timeout (sync messages), Unreachable."""
        cptr = self._enter("flush")
        try:
            self._check(self._lib.ps_flush(cptr, _ms(timeout)), cptr, "flush")
        finally:
            self._leave()

    def publish_sync(self, channel, topic=None, data=b"", *, timeout=5.0, retain=False):
        """Kind 2, a synchronous message: waits until its receivers have it
        (on a queue, until a consumer acknowledged it; elsewhere every
        receiver attached confirmed).  Returns Confirmed(confirmed,
        expected), str() "2/2".  Raises NoResponders (nobody attached;
        not on queues, which wait), PartialConfirm (some confirmed) or
        Timeout (none in time; a queue keeps the message), the last two
        with ``confirmed`` and ``expected``."""
        payload = _payload(data)
        confirmed, expected = ctypes.c_uint(0), ctypes.c_uint(0)
        ch = _name(channel, "channel")
        cptr = self._enter("publish_sync")
        try:
            rc = self._lib.ps_publish_sync(cptr, ch, _name(topic, "topic"), payload, len(payload),
                                           _capi.PS_RETAIN if retain else 0, _ms(timeout),
                                           ctypes.byref(confirmed), ctypes.byref(expected))
            if rc < 0:
                e = _error(self._lib, cptr, ctypes.get_errno(), "sync publish to '%s'" % channel)
                if isinstance(e, (PartialConfirm, Timeout)):
                    e.confirmed, e.expected = confirmed.value, expected.value
                raise e
            return Confirmed(rc, expected.value or rc)
        finally:
            self._leave()

    # -- kind 3 and 4: requests ------------------------------------------
    def request(self, channel, topic=None, data=b"", *, timeout=5.0):
        """Kind 4, a synchronous request (RPC): returns the first reply, a
        Message.  On a queue one responder answers; on broadcast every
        responder (the first reply is returned); on pubsub the responders
        whose pattern matches topic.  Raises NoResponders, Timeout,
        ReplyError (the responder failed; ``e.reply`` holds its text) or a
        refusal."""
        payload = _payload(data)
        reply = ctypes.c_void_p()
        ch = _name(channel, "channel")
        cptr = self._enter("request")
        try:
            rc = self._lib.ps_request(cptr, ch, _name(topic, "topic"), payload, len(payload),
                                      _ms(timeout), ctypes.byref(reply))
            err = ctypes.get_errno()
            m = Message(self._lib, reply.value, None) if reply.value else None
            if rc < 0:
                e = _error(self._lib, cptr, err, "request on '%s'" % channel)
                if isinstance(e, ReplyError):
                    e.reply = m
                raise e
            return m
        finally:
            self._leave()

    def request_async(self, channel, topic=None, data=b"", *, timeout=5.0):
        """Kind 3, an asynchronous request: returns at once with a Ticket;
        collect the replies later with ticket.wait() or ticket.result().
        The broker waits timeout seconds for the replies."""
        payload = _payload(data)
        ch = _name(channel, "channel")
        cptr = self._enter("request_async")
        try:
            t = self._lib.ps_request_async(cptr, ch, _name(topic, "topic"), payload,
                                           len(payload), _ms(timeout))
            if t < 0:
                raise _error(self._lib, cptr, ctypes.get_errno(), "request on '%s'" % channel)
        finally:
            self._leave()
        return Ticket(self, t, "request on '%s'" % channel)

    # -- receiving -----------------------------------------------------------
    def subscribe(self, channel, pattern="#", responder=False):
        """Attaches to channel and returns once the broker confirmed it, so
        nothing published afterwards is missed.  pattern: an MQTT topic
        filter on pubsub channels ("a/+/c", "a/#"), ignored elsewhere.  On a
        queue the client becomes a competing consumer.  responder=True also
        receives requests (answer with message.reply()).  Retained values
        that match are delivered first."""
        ch, pat = _name(channel, "channel"), _name(pattern, "pattern")
        cptr = self._enter("subscribe")
        try:
            flags = _capi.PS_RESPONDER if responder else 0
            self._check(self._lib.ps_subscribe(cptr, ch, pat, flags), cptr,
                        "subscribe to '%s'" % channel)
        finally:
            self._leave()

    def unsubscribe(self, channel, pattern="#"):
        """Detaches the subscription made with the same channel and pattern."""
        ch, pat = _name(channel, "channel"), _name(pattern, "pattern")
        cptr = self._enter("unsubscribe")
        try:
            self._check(self._lib.ps_unsubscribe(cptr, ch, pat), cptr,
                        "unsubscribe from '%s'" % channel)
        finally:
            self._leave()

    def _recv(self, timeout):
        """The next Message, or None when none came within timeout seconds."""
        lib = self._lib
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            cptr = self._enter("recv")
            try:
                ptr = lib.ps_recv(cptr, _slice_ms(deadline))
                if ptr:
                    return Message(lib, ptr, self)
                err = ctypes.get_errno()
                if err != ETIMEDOUT:
                    raise _error(lib, cptr, err, "recv")
            finally:
                self._leave()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def recv(self, timeout=None):
        """The next message (sync messages are confirmed here), waiting up to
        timeout seconds (None: until one comes); raises Timeout when none
        came.  Called in a running asyncio event loop it returns an
        awaitable instead: ``m = await client.recv()`` waits through the
        loop without blocking it."""
        if _running_loop() is not None:
            return self._aio_reader().recv(timeout)
        m = self._recv(timeout)
        if m is None:
            raise Timeout(ETIMEDOUT, "no message within %g s" % timeout, None, "recv")
        return m

    def messages(self, timeout=None):
        """Iterates over received messages; ends after timeout seconds
        without one (None: never)."""
        while True:
            m = self._recv(timeout)
            if m is None:
                return
            yield m

    __iter__ = messages

    def __aiter__(self):
        return self._aio_reader().messages()

    def _aio_reader(self):
        if self._aio is None:
            from ._aio import Reader
            reader = Reader(self)  # outside the lock: it asks for fileno()
            with self._lock:
                if self._aio is None:
                    self._aio = reader
        return self._aio

    # -- administration ------------------------------------------------------
    def dropped(self):
        """Messages this client missed because it was too slow, summed over
        all channels since the last call (which resets the count)."""
        cptr = self._enter("dropped")
        try:
            return self._lib.ps_dropped(cptr)
        finally:
            self._leave()

    def admin(self, verb, timeout=5.0):
        """Asks the broker for "status", "channels" or "clients" and returns
        the parsed JSON (what `pctl VERB --json` prints)."""
        out = ctypes.c_void_p()
        v = _name(verb, "verb")
        cptr = self._enter("admin")
        try:
            self._check(self._lib.ps_admin(cptr, v, _ms(timeout), ctypes.byref(out)), cptr,
                        "admin %s" % verb)
        finally:
            self._leave()
        try:
            return json.loads(ctypes.string_at(out.value).decode("utf-8"))
        finally:
            _capi.libc_free(out.value)


def _running_loop():
    """The asyncio loop running in this thread, or None (without importing
    asyncio when the program does not use it)."""
    aio = sys.modules.get("asyncio")
    return aio._get_running_loop() if aio is not None else None


def connect(endpoint=None, **options):
    """Connects to the broker and returns a Client.

    endpoint: "tcp://HOST:PORT" or "ipc:///PATH"; None means
    $PUBSUB_BROKER, else tcp://127.0.0.1:5242.  Keyword options:
    name (shown by `pctl clients`), curve_server_key (the broker's public
    key, 40 characters of Z85 or a key file; default
    $PUBSUB_CURVE_SERVER_KEY), curve_key (our key file as `pctl keygen`
    writes it, or a (public, secret) pair; default $PUBSUB_CURVE_KEY, else
    a fresh pair), timeout (connect timeout in seconds, 3.0), heartbeat and
    heartbeat_timeout (seconds), window (queue messages in flight),
    confirm_window (confirmed publishes outstanding before publish waits:
    a sliding window, see PS_OPT_CONFIRM_WINDOW in libpubsub(3); default
    no bound), pause_wait (seconds publish waits while the broker has
    paused this client for a full "block" queue, then Timeout; default
    5.0, negative: no bound), and reconnect (True: reconnect and
    resubscribe after a broker restart).
    Raises Unreachable, NotAllowed, VersionMismatch or BadName.
    """
    return Client(endpoint, **options)
