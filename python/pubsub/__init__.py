"""pubsub - Python client of the pubsub message broker (brokerd), over
libpubsub.so.1 with ctypes.

Channels are of three types, fixed by the broker: queue (each message to
one consumer, which acknowledges it), broadcast (each message to every
receiver attached) and pubsub (topics matched against MQTT-style patterns,
with retained last values).  The four kinds of communication:

    (1) asynchronous message   client.publish(channel, topic, data)
    (2) synchronous message    client.publish_sync(channel, topic, data)
    (3) asynchronous request   client.request_async(channel, topic, data).result()
    (4) synchronous request    client.request(channel, topic, data)

Publish:

    import pubsub
    with pubsub.connect() as c:            # $PUBSUB_BROKER or tcp://127.0.0.1:5242
        c.publish("logs", "amd64/cron", "(root) CMD (evlogmgr)")
        c.flush()                          # the broker has it

Subscribe:

    import pubsub
    with pubsub.connect() as c:
        c.subscribe("logs", "amd64/#")
        for m in c.messages():
            print(m.topic, m.text)

Queue messages are acknowledged with m.ack() once handled; requests
(subscribe(..., responder=True), m.is_request) are answered with
m.reply(data).  Payloads are bytes; str is sent as UTF-8, m.data is
bytes and m.text the UTF-8 text.  Timeouts are in seconds.

Failures raise exceptions carrying the library's text, all PubsubError
(an OSError): NoResponders, Timeout, PartialConfirm (confirmed/expected),
ReplyError, Refused (UnknownChannel, WrongChannelType, TooLarge,
NotAllowed, LimitReached, BadName, ProtocolError), Unreachable,
VersionMismatch, ClientClosed.

Threads: one client may be shared by any number of threads; blocking calls
release the GIL.  asyncio: within a running event loop ``await
client.recv()`` and ``async for m in client`` wait through the loop's
reader on the client's file descriptor, without a thread.

The library is found as $PUBSUB_LIBRARY, else as libpubsub.so.1 where the
dynamic linker or `make install` put it; from a source tree (PYTHONPATH
set to its python/ directory) the tree's build/libpubsub.so.1 is used.
"""

from .client import Client, Confirmed, Message, Ticket, connect
from .errors import (BadName, ClientClosed, LimitReached, NoResponders, NotAllowed,
                     PartialConfirm, ProtocolError, PubsubError, Refused, ReplyError, Timeout,
                     TooLarge, UnknownChannel, Unreachable, VersionMismatch, WrongChannelType)

__version__ = "1.0.0"
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5242"

__all__ = ["connect", "Client", "Message", "Ticket", "Confirmed", "library_version",
           "DEFAULT_ENDPOINT", "PubsubError", "NoResponders", "Timeout", "PartialConfirm",
           "ReplyError", "Refused", "UnknownChannel", "WrongChannelType", "TooLarge",
           "NotAllowed", "LimitReached", "BadName", "ProtocolError", "Unreachable",
           "VersionMismatch", "ClientClosed"]


def library_version():
    """The version of the libpubsub.so loaded, such as "1.0.0"."""
    from . import _capi
    return _capi.load().ps_version().decode()
