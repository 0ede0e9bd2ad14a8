"""asyncio: ``await client.recv()`` and ``async for m in client`` wait
through the event loop's reader on ps_fd(), with no thread of their own,
and never lose a message to a timeout or a cancelled coroutine."""

import asyncio
import select
import threading

import pytest

import pubsub


def test_await_recv_and_async_for(connect):
    c, pub = connect(), connect()
    c.subscribe("aio")
    threads_before = threading.active_count()

    async def main():
        async def publish_later():
            await asyncio.sleep(0.05)  # the consumer is waiting in the loop by now
            for i in range(5):
                pub.publish("aio", "t", str(i))
            pub.flush()

        task = asyncio.create_task(publish_later())
        first = await c.recv()
        rest = []
        async for m in c:
            rest.append(m.text)
            if len(rest) == 4:
                break
        await task
        return [first.text] + rest

    assert asyncio.run(main()) == ["0", "1", "2", "3", "4"]
    assert threading.active_count() == threads_before


def test_timeout_and_cancel_lose_nothing(connect):
    c, pub = connect(), connect()
    c.subscribe("aio-cancel")

    async def main():
        with pytest.raises(pubsub.Timeout):
            await c.recv(timeout=0.1)
        waiter = asyncio.create_task(c.recv())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        pub.publish("aio-cancel", "t", "after the cancel")
        pub.flush()
        return (await c.recv(timeout=5)).text

    assert asyncio.run(main()) == "after the cancel"


def test_many_coroutines_one_loop(connect):
    c, pub = connect(), connect()
    c.subscribe("aio-many")

    async def main():
        waiters = [asyncio.create_task(c.recv(timeout=10)) for _ in range(10)]
        await asyncio.sleep(0.05)
        for i in range(10):
            pub.publish("aio-many", "t", str(i))
        pub.flush()
        return sorted([int((await w).text) for w in waiters])

    assert asyncio.run(main()) == list(range(10))


def test_loop_stays_responsive(connect):
    """While a coroutine waits for a message, other coroutines run."""
    c = connect()
    c.subscribe("aio-idle")

    async def main():
        waiter = asyncio.create_task(c.recv(timeout=1))
        ticks = 0
        while not waiter.done():
            await asyncio.sleep(0.01)
            ticks += 1
        with pytest.raises(pubsub.Timeout):
            waiter.result()
        return ticks

    assert asyncio.run(main()) >= 5  # 100 when idle; fewer on a loaded machine


def test_close_ends_async_for(connect):
    c = connect()
    c.subscribe("aio-close")

    async def main():
        async def consume():
            return [m async for m in c]

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        c.close()
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(main()) == []


def test_cancelled_after_the_message_was_taken(connect):
    """The reader took a message for a coroutine that is cancelled before it
    runs again: the next recv() gets that message, nothing is lost."""
    c, pub = connect(), connect()
    c.subscribe("aio-taken")

    async def main():
        waiter = asyncio.create_task(c.recv())
        await asyncio.sleep(0)  # the waiter registered the reader
        pub.publish("aio-taken", "t", "taken")
        pub.flush()
        assert select.select([c.fileno()], [], [], 5)[0]
        # One loop turn runs the reader, which hands the message to the
        # waiter's future; the waiter itself would run in the next turn.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return (await c.recv(timeout=0)).text

    assert asyncio.run(main()) == "taken"
