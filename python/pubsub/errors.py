"""The exceptions of the pubsub package, one class per failure a caller may
want to handle apart, each mapped from the errno value libpubsub reports.

Every exception is a PubsubError, itself an OSError: ``e.errno`` is the
library's code (a system errno value or one of libpubsub's PS_E* codes),
``e.strerror`` the library's description of it (ps_strerror) and
``e.reason`` the broker's own sentence when the broker said why
(ps_errmsg), else None.  ``str(e)`` names the operation and gives the most
precise text there is.
"""

import errno as _errno

# libpubsub's own codes (pubsub.h), far above the system's errno values.
PS_EHAUSNUMERO = 0x50530000
PS_ENORESP = PS_EHAUSNUMERO + 1
PS_EVERSION = PS_EHAUSNUMERO + 2
PS_EREPLY = PS_EHAUSNUMERO + 3
PS_EPARTIAL = PS_EHAUSNUMERO + 4


class PubsubError(OSError):
    """A libpubsub call failed.

    Attributes: ``errno`` (the library's code), ``strerror`` (its
    description), ``reason`` (the broker's own sentence, or None) and
    ``operation`` (what was being done, such as "publish to 'jobs'").
    """

    def __init__(self, code, strerror, reason=None, operation=None):
        super().__init__(code, strerror)
        self.reason = reason
        self.operation = operation

    def __str__(self):
        text = self.reason or self.strerror
        return "%s: %s" % (self.operation, text) if self.operation else text


class NoResponders(PubsubError):
    """Nobody was attached to receive a sync message or answer a request
    (PS_ENORESP): an immediate answer, never a silent success."""


class Timeout(PubsubError, TimeoutError):
    """No answer in time (ETIMEDOUT): no message, confirmation or reply.

    For a sync message ``confirmed`` and ``expected`` hold the counts
    (``confirmed`` is 0 then; a queue keeps the message); otherwise None.
    """

    confirmed = None
    expected = None


class PartialConfirm(PubsubError):
    """A sync message was confirmed by fewer receivers than were attached
    (PS_EPARTIAL).  ``confirmed`` and ``expected`` hold the counts when the
    library reported them (publish_sync), else None (flush)."""

    confirmed = None
    expected = None

    def __str__(self):
        text = super().__str__()
        if self.expected is not None:
            text += " (%d/%d confirmed)" % (self.confirmed, self.expected)
        return text


class ReplyError(PubsubError):
    """The responder answered the request with an error (PS_EREPLY).
    ``reply`` is its Message; its ``data`` is the responder's error text."""

    reply = None

    def __str__(self):
        if self.reply is not None:
            return "%s: the responder failed: %s" % (
                self.operation or "request", self.reply.data.decode("utf-8", "replace"))
        return super().__str__()


class Refused(PubsubError):
    """The broker (or the library, for a name it can see is bad) refused
    the operation; ``reason`` says why in the broker's words."""


class UnknownChannel(Refused):
    """The channel does not exist and the broker creates none (ENOENT)."""


class WrongChannelType(Refused):
    """The operation does not fit the channel's type (EPROTOTYPE)."""


class TooLarge(Refused):
    """The payload is above the broker's max_message_size (EMSGSIZE)."""


class NotAllowed(Refused):
    """The broker's security rules do not allow it (EACCES)."""


class LimitReached(Refused):
    """A queue is full or another configured limit was reached (ENOBUFS)."""


class BadName(Refused, ValueError):
    """A bad channel name, topic, pattern or value (EINVAL)."""


class ProtocolError(Refused):
    """The broker saw malformed traffic (EPROTO)."""


class Unreachable(PubsubError, ConnectionError):
    """No broker answered (EHOSTUNREACH), or the security handshake failed
    (ECONNREFUSED: the broker requires CURVE, or the broker key is wrong)."""


class VersionMismatch(PubsubError):
    """The broker speaks another major version of the protocol (PS_EVERSION)."""


class ClientClosed(PubsubError, ValueError):
    """The client was closed (by close() or the end of its with block)."""

    def __init__(self, operation=None):
        super().__init__(_errno.EBADF, "the client is closed", None, operation)


_CLASSES = {
    PS_ENORESP: NoResponders,
    PS_EPARTIAL: PartialConfirm,
    PS_EREPLY: ReplyError,
    PS_EVERSION: VersionMismatch,
    _errno.ETIMEDOUT: Timeout,
    _errno.ENOENT: UnknownChannel,
    _errno.EPROTOTYPE: WrongChannelType,
    _errno.EMSGSIZE: TooLarge,
    _errno.EACCES: NotAllowed,
    _errno.ENOBUFS: LimitReached,
    _errno.EINVAL: BadName,
    _errno.EPROTO: ProtocolError,
    _errno.EHOSTUNREACH: Unreachable,
    _errno.ECONNREFUSED: Unreachable,
}


def error_class(code):
    """The exception class for the library's error code ``code``."""
    return _CLASSES.get(code, PubsubError)
