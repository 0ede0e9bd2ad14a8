#!/usr/bin/python3
# sandbox.py - runs a command under the seccomp filters a systemd unit file
# asks for, as systemd itself would install them, without systemd.
#
#   sandbox.py UNIT_FILE -- COMMAND [ARG]...
#
# The [Service] settings read: SystemCallFilter= (in order: the first
# assignment picks allow- or deny-listing, later ones add or remove, groups
# expanded by `systemd-analyze syscall-filter`), SystemCallErrorNumber=,
# RestrictAddressFamilies= (socket() with another family fails with
# EAFNOSUPPORT), RestrictRealtime= (sched_setscheduler to a real-time
# policy fails) and MemoryDenyWriteExecute= (no writable and executable
# mapping, no mprotect to executable).  The filter is loaded, then COMMAND
# is exec'd, so the dynamic loader runs under it too, as in a service.
# A container has no systemd to start a unit, so this is how a test can
# show the unit's filters do not break the program; mount namespaces,
# users and capabilities are beyond it.
import errno
import os
import subprocess
import sys

import seccomp

# systemd allows these whatever the filter says (systemd.exec(5)).
IMPLICIT = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}
SCHED_FIFO, SCHED_RR, SCHED_DEADLINE = 1, 2, 6
PROT_WRITE, PROT_EXEC = 0x2, 0x4
AF_MAX = 46
FAMILIES = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
            "AF_PACKET": 17}


def expand(name, cache={}):
    """The system calls of @GROUP (recursively), or {name} for a call."""
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                             text=True, check=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            word = line.strip()
            if word and not word.startswith("#"):
                calls |= expand(word)
        cache[name] = calls
    return cache[name]


def service_settings(path):
    """(key, value) of every assignment in the [Service] section, in order."""
    settings, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.append((key.strip(), value.strip()))
    return settings


def build_filter(settings):
    allow, deny_mode, seen = set(), None, False
    err = errno.EPERM
    families, realtime, mdwe = None, False, False
    for key, value in settings:
        if key == "SystemCallFilter":
            if not value:
                allow, seen = set(), False
                continue
            invert = value.startswith("~")
            calls = set()
            for word in value.lstrip("~").split():
                calls |= expand(word.split(":")[0])
            if not seen:
                deny_mode, seen = invert, True
            if deny_mode:
                allow = allow | calls if invert else allow - calls
            else:
                allow = allow - calls if invert else allow | calls
        elif key == "SystemCallErrorNumber":
            err = getattr(errno, value)
        elif key == "RestrictAddressFamilies":
            families = {FAMILIES[f] for f in value.split()}
        elif key == "RestrictRealtime":
            realtime = value in ("yes", "true", "1")
        elif key == "MemoryDenyWriteExecute":
            mdwe = value in ("yes", "true", "1")
    if not seen or deny_mode:
        sys.exit("sandbox.py: only allow-listing SystemCallFilter= is emulated")
    allow |= IMPLICIT
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(err))
    # Calls whose arguments are judged get conditional rules below instead.
    judged = set()
    if families is not None:
        judged.add("socket")
    if realtime:
        judged.add("sched_setscheduler")
    if mdwe:
        judged |= {"mmap", "mprotect", "pkey_mprotect"}
    for call in sorted(allow - judged):
        try:
            f.add_rule(seccomp.ALLOW, call)
        except (RuntimeError, ValueError):
            pass  # a name of another architecture
    A = seccomp.Arg
    if "socket" in judged and "socket" in allow:
        for fam in sorted(families):
            f.add_rule(seccomp.ALLOW, "socket", A(0, seccomp.EQ, fam))
        # libseccomp takes one comparison per argument: a rule per family.
        for fam in range(AF_MAX):
            if fam not in families:
                f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", A(0, seccomp.EQ, fam))
    if "sched_setscheduler" in judged and "sched_setscheduler" in allow:
        for pol in (0, 3, 5):  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE
            f.add_rule(seccomp.ALLOW, "sched_setscheduler", A(1, seccomp.EQ, pol))
    if mdwe:
        if "mmap" in allow:
            f.add_rule(seccomp.ALLOW, "mmap", A(2, seccomp.MASKED_EQ, PROT_WRITE, 0))
            f.add_rule(seccomp.ALLOW, "mmap", A(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
        for call in ("mprotect", "pkey_mprotect"):
            if call in allow:
                f.add_rule(seccomp.ALLOW, call, A(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
    return f


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: sandbox.py UNIT_FILE -- COMMAND [ARG]...")
    build_filter(service_settings(sys.argv[1])).load()
    os.execv(sys.argv[3], sys.argv[3:])


main()
