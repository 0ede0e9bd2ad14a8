"""asyncio for a Client: ``await client.recv()`` and ``async for m in
client`` wait through the event loop's reader on ps_fd(), without a thread.

ps_fd() is level-triggered: an eventfd the library makes readable when its
receive queue goes from empty to not empty and clears when ps_recv() takes
the last message.  It must not be read.  So the reader takes messages with
ps_recv(0) while coroutines wait for them and leaves the rest in the
library; it is registered only while some coroutine waits, since a readable
fd nobody drains would wake the loop for ever.  Other threads may call
recv() on the same client meanwhile: whoever asks first gets a message.
"""

import asyncio
import errno
from collections import deque

from .errors import ClientClosed, Timeout

ETIMEDOUT = errno.ETIMEDOUT


class Reader:
    """The waiting coroutines of one client, served by one event loop."""

    def __init__(self, client):
        self._client = client
        self._fd = client.fileno()
        self._loop = None  # the event loop the reader is registered with
        self._reading = False  # the fd is registered with the loop
        # Futures of the coroutines waiting in recv(), oldest first; one per
        # waiting coroutine, so bounded by the program's own coroutines.
        self._waiters = deque()
        # Messages taken for a coroutine that was cancelled before it ran on:
        # handed to the next one, never lost.  At most one per cancelled waiter.
        self._pending = deque()

    def _bind(self, loop):
        if self._loop is not loop:
            if self._loop is not None and (self._waiters or self._reading) \
                    and not self._loop.is_closed():
                raise RuntimeError("a pubsub.Client serves one event loop at a time")
            self._loop, self._reading = loop, False

    def _start(self):
        if not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _stop(self):
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self):
        try:
            while self._waiters:
                fut = self._waiters[0]
                if fut.done():  # timed out or cancelled
                    self._waiters.popleft()
                    continue
                m = self._client._recv(0)
                if m is None:  # another thread took it
                    break
                self._waiters.popleft()
                fut.set_result(m)
        except Exception as e:  # the client was closed, or the broker lost for good
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_exception(e)
        if not self._waiters:
            self._stop()

    async def recv(self, timeout=None):
        """The next message; raises Timeout after timeout seconds without one."""
        loop = asyncio.get_running_loop()
        self._bind(loop)
        if self._pending:
            return self._pending.popleft()
        m = self._client._recv(0)
        if m is not None:
            return m
        if timeout is not None and timeout <= 0:
            raise Timeout(ETIMEDOUT, "no message waiting", None, "recv")
        fut = loop.create_future()
        self._waiters.append(fut)
        self._start()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, fut, timeout)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._pending.append(fut.result())
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def messages(self):
        """Every message, until the client is closed."""
        while True:
            try:
                m = await self.recv()
            except ClientClosed:
                return
            yield m

    def detach(self):
        """Called by close(): unregisters the fd and fails the waiters."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            same_thread = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_thread = False
        if same_thread:
            self._fail_all()
        else:
            loop.call_soon_threadsafe(self._fail_all)

    def _fail_all(self):
        self._stop()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(ClientClosed("recv"))


def _expire(fut, timeout):
    if not fut.done():
        fut.set_exception(Timeout(ETIMEDOUT, "no message within %g s" % timeout, None, "recv"))
