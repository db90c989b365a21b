#!/usr/bin/python3
"""A small seccomp agent for the tests and the conformance suite (x86_64 numbers).

    seccomp_agent.py SOCK OUT

Listens on the unix socket SOCK.  For each connection (one per container process:
create's, then one per exec) it writes what it received to OUT (the first) or OUT.N
(the N+1th) as JSON: the container process state, how many fds came with it and what
they are.  It answers the notifications of every listener fd it got: mkdir/mkdirat
fail with EXDEV, rmdir continues (SECCOMP_USER_NOTIF_FLAG_CONTINUE: it really runs),
and appends each notified syscall's name to OUT.seen.  It exits once every listener it
got has hung up (every process of those filters is gone), or after 120 s of nothing."""
import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys

sock_path, out = sys.argv[1], sys.argv[2]
NR = {83: "mkdir", 258: "mkdirat", 84: "rmdir"}
NOTIF_RECV = (3 << 30) | (80 << 16) | (ord("!") << 8) | 0   # struct seccomp_notif
NOTIF_SEND = (3 << 30) | (24 << 16) | (ord("!") << 8) | 1   # struct seccomp_notif_resp
CONTINUE = 1                                                # SECCOMP_USER_NOTIF_FLAG_CONTINUE


def receive(srv, n):
    conn, _ = srv.accept()
    conn.settimeout(20)
    with conn:
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 8)
        while True:  # one state per connection, then the runtime closes it
            more = conn.recv(1 << 16)
            if not more:
                break
            msg += more
    kinds = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
    path = out if n == 0 else f"{out}.{n}"
    with open(path + ".tmp", "w") as f:
        json.dump({"message": json.loads(msg), "nfds": len(fds), "fd_kinds": kinds}, f)
    os.rename(path + ".tmp", path)
    return fds[0]


def answer(listener):
    req = bytearray(80)
    try:
        fcntl.ioctl(listener, NOTIF_RECV, req, True)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EINTR):  # the caller went away meanwhile
            return
        raise
    nid, _pid, _arch, nr = struct.unpack_from("<QIIi", req)
    name = NR.get(nr, str(nr))
    with open(out + ".seen", "a") as f:
        f.write(name + "\n")
    if name == "rmdir":
        resp = struct.pack("<QqiI", nid, 0, 0, CONTINUE)
    else:
        resp = struct.pack("<QqiI", nid, 0, -errno.EXDEV, 0)
    try:
        fcntl.ioctl(listener, NOTIF_SEND, bytearray(resp), True)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def main():
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(4)
    listeners, got = set(), 0
    while True:
        poller = select.poll()
        poller.register(srv, select.POLLIN)
        for fd in listeners:
            poller.register(fd, select.POLLIN)
        events = poller.poll(120000)
        if not events:
            break
        for fd, ev in events:
            if fd == srv.fileno():
                listeners.add(receive(srv, got))
                got += 1
            elif ev & select.POLLHUP:
                listeners.discard(fd)
                os.close(fd)
            elif ev & select.POLLIN:
                answer(fd)
        if got and not listeners:
            break
    open(out + ".seen", "a").close()


main()
