#!/usr/bin/python3
"""A small seccomp agent for the tests and the conformance suite (x86_64 numbers).

    seccomp_agent.py SOCK OUT

Takes one connection on the unix socket SOCK, writes what it receives (the container
process state, how many fds came with it and what they are) to OUT as JSON, then
answers the notifications of the listener fd: mkdir/mkdirat fail with EXDEV, rmdir
continues (SECCOMP_USER_NOTIF_FLAG_CONTINUE: it really runs).  Exits when every
process of the filter is gone, writing the notified syscalls' names to OUT.seen."""
import errno, fcntl, json, os, select, socket, struct, sys

sock_path, out = sys.argv[1], sys.argv[2]
NR = {83: "mkdir", 258: "mkdirat", 84: "rmdir"}
NOTIF_RECV = (3 << 30) | (80 << 16) | (ord("!") << 8) | 0   # struct seccomp_notif
NOTIF_SEND = (3 << 30) | (24 << 16) | (ord("!") << 8) | 1   # struct seccomp_notif_resp
CONTINUE = 1                                                # SECCOMP_USER_NOTIF_FLAG_CONTINUE
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(1)
srv.settimeout(60)
conn, _ = srv.accept()
conn.settimeout(20)
msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 8)
while True:
    more = conn.recv(1 << 16)
    if not more:
        break
    msg += more
conn.close()
srv.close()
fd_kinds = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
with open(out + ".tmp", "w") as f:
    json.dump({"message": json.loads(msg), "nfds": len(fds), "fd_kinds": fd_kinds}, f)
os.rename(out + ".tmp", out)
listener = fds[0]
seen = []
while True:
    r = select.poll()
    r.register(listener, select.POLLIN)
    ev = r.poll(60000)
    if not ev or ev[0][1] & select.POLLHUP:
        break
    req = bytearray(80)
    try:
        fcntl.ioctl(listener, NOTIF_RECV, req, True)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EINTR):
            continue
        raise
    nid, pid, _, nr = struct.unpack_from("<QIIi", req)
    name = NR.get(nr, str(nr))
    seen.append(name)
    if name == "rmdir":
        resp = struct.pack("<QqiI", nid, 0, 0, CONTINUE)
    else:
        resp = struct.pack("<QqiI", nid, 0, -errno.EXDEV, 0)
    try:
        fcntl.ioctl(listener, NOTIF_SEND, bytearray(resp), True)
    except OSError as e:
        if e.errno != errno.ENOENT:  # the caller went away meanwhile
            raise
with open(out + ".seen", "w") as f:
    f.write(" ".join(seen))
