"""Finds libpubsub.so.1 and declares the prototypes of its public API
(pubsub.h) for ctypes.  The library is loaded with ctypes.CDLL, so every
foreign call releases the GIL: a thread blocked in ps_recv() does not stop
the other threads of the process.  Nothing here is compiled; the only
binary is the C library itself.

Where the library is looked for, first match wins: $PUBSUB_LIBRARY (a path
or a name for dlopen); for an installed package, "libpubsub.so.1" as the
dynamic linker finds it and then, if the linker does not search it, the
library directory `make install` wrote below; from the source tree (python/ on PYTHONPATH), the tree's own
build/libpubsub.so.1 and then the dynamic linker's; ctypes.util.find_library
last.
"""

import ctypes
import ctypes.util
import os
import threading

# `make install` replaces this with the directory it put libpubsub.so.1 in
# when the dynamic linker does not search that directory (PREFIX=/opt/x),
# and with "" when it does (/usr, /usr/local): then the library is found by
# its soname alone, and the installed file names no path, so that it is the
# same on every architecture (Debian's python3-pubsub is Architecture: all).
INSTALLED_LIBDIR = "@LIBDIR@"

SONAME = "libpubsub.so.1"

_c_void_p = ctypes.c_void_p
_c_char_p = ctypes.c_char_p
_c_int = ctypes.c_int
_c_size_t = ctypes.c_size_t
_c_int64 = ctypes.c_int64
_c_uint64 = ctypes.c_uint64
_c_uint_p = ctypes.POINTER(ctypes.c_uint)
_c_void_pp = ctypes.POINTER(ctypes.c_void_p)

# name: (result type, argument types).  Pointers to the library's opaque
# structs are plain void pointers; strings go in as NUL-terminated bytes.
_PROTOTYPES = {
    "ps_opts_new": (_c_void_p, []),
    "ps_opts_destroy": (None, [_c_void_pp]),
    "ps_opts_set_int": (_c_int, [_c_void_p, _c_int, _c_int]),
    "ps_opts_set_str": (_c_int, [_c_void_p, _c_int, _c_char_p]),
    "ps_connect": (_c_void_p, [_c_char_p, _c_void_p]),
    "ps_close": (None, [_c_void_pp]),
    "ps_fd": (_c_int, [_c_void_p]),
    "ps_publish": (_c_int, [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_size_t, _c_int]),
    "ps_flush": (_c_int, [_c_void_p, _c_int]),
    "ps_publish_sync": (_c_int, [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_size_t, _c_int,
                                 _c_int, _c_uint_p, _c_uint_p]),
    "ps_request_async": (_c_int64, [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_size_t, _c_int]),
    "ps_request_wait": (_c_void_p, [_c_void_p, _c_int64, _c_int]),
    "ps_request_end": (None, [_c_void_p, _c_int64]),
    "ps_request": (_c_int, [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_size_t, _c_int,
                            _c_void_pp]),
    "ps_subscribe": (_c_int, [_c_void_p, _c_char_p, _c_char_p, _c_int]),
    "ps_unsubscribe": (_c_int, [_c_void_p, _c_char_p, _c_char_p]),
    "ps_recv": (_c_void_p, [_c_void_p, _c_int]),
    "ps_ack": (_c_int, [_c_void_p, _c_void_p]),
    "ps_reply": (_c_int, [_c_void_p, _c_void_p, _c_char_p, _c_size_t, _c_int]),
    "ps_dropped": (_c_uint64, [_c_void_p]),
    "ps_admin": (_c_int, [_c_void_p, _c_char_p, _c_int, _c_void_pp]),
    "ps_msg_destroy": (None, [_c_void_pp]),
    "ps_msg_channel": (_c_char_p, [_c_void_p]),
    "ps_msg_topic": (_c_char_p, [_c_void_p]),
    "ps_msg_data": (_c_void_p, [_c_void_p]),
    "ps_msg_size": (_c_size_t, [_c_void_p]),
    "ps_msg_seq": (_c_uint64, [_c_void_p]),
    "ps_msg_is_request": (_c_int, [_c_void_p]),
    "ps_msg_is_retained": (_c_int, [_c_void_p]),
    "ps_msg_is_redelivered": (_c_int, [_c_void_p]),
    "ps_msg_status": (_c_int, [_c_void_p]),
    "ps_msg_gap": (_c_uint64, [_c_void_p]),
    "ps_msg_broker": (_c_uint64, [_c_void_p]),
    "ps_msg_epoch": (_c_uint64, [_c_void_p]),
    "ps_strerror": (_c_char_p, [_c_int]),
    "ps_errmsg": (_c_char_p, [_c_void_p]),
    "ps_version": (_c_char_p, []),
}

# Option names (pubsub.h, enum PS_OPT_*) and flags.
PS_OPT_TIMEOUT_MS = 1
PS_OPT_HEARTBEAT_MS = 2
PS_OPT_HEARTBEAT_TIMEOUT_MS = 3
PS_OPT_WINDOW = 4
PS_OPT_RECONNECT = 5
PS_OPT_NAME = 6
PS_OPT_CURVE_SERVER_KEY = 7
PS_OPT_CURVE_PUBLIC_KEY = 8
PS_OPT_CURVE_SECRET_KEY = 9
PS_OPT_CONFIRM_WINDOW = 10
PS_OPT_PAUSE_WAIT_MS = 11
PS_RETAIN = 0x01
PS_CONFIRM = 0x02
PS_SYNC = 0x04
PS_RESPONDER = 0x01

_loaded = None
_load_lock = threading.Lock()


def candidates():
    """The paths and names tried for the library, in order."""
    env = os.environ.get("PUBSUB_LIBRARY")
    if env:
        return [env]
    tree_build = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "build", SONAME)
    if not INSTALLED_LIBDIR:
        found = [SONAME]
    elif not INSTALLED_LIBDIR.startswith("@"):
        found = [SONAME, os.path.join(INSTALLED_LIBDIR, SONAME)]
    else:
        found = [tree_build, SONAME]
    name = ctypes.util.find_library("pubsub")
    if name:
        found.append(name)
    return found


def load():
    """Returns the loaded library with its prototypes set, loading it the
    first time; raises OSError naming every place tried."""
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded
        tried = []
        for path in candidates():
            if os.sep in path and not os.path.exists(path):
                tried.append(path + " (no such file)")
                continue
            try:
                lib = ctypes.CDLL(path, use_errno=True)
            except OSError as e:
                tried.append("%s (%s)" % (path, e))
                continue
            for name, (restype, argtypes) in _PROTOTYPES.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
            _loaded = lib
            return lib
        raise OSError("cannot load libpubsub: tried %s; set PUBSUB_LIBRARY to its path"
                      % "; ".join(tried))


_libc = ctypes.CDLL(None)
# free(3), for the JSON text ps_admin() hands over.
libc_free = _libc.free
libc_free.restype = None
libc_free.argtypes = [_c_void_p]
