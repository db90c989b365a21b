"""The parent <-> container-init channel: JSON messages (and fds) over a SOCK_SEQPACKET pair.

A message larger than INLINE_MAX (the hook state with a config's annotations: Kubernetes
allows 256 KiB of them, and a datagram cannot exceed the socket buffer, ~208 KiB) travels
in a memfd passed along as the message's last fd: any size the engines produce fits.

Uses the C `_socket` module directly: `socket.py` imports `enum` and costs more than
the whole exchange.
"""
import _socket
import os
import struct

from runtime import jsonio

_FD_SIZE = struct.calcsize("i")
INLINE_MAX = 32 << 10
_BIG = b'{"t": "@memfd"}'


def send_fds(sock, data, fds):
    """sendmsg with SCM_RIGHTS (socket.send_fds without the socket module)."""
    anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    return sock.sendmsg([data], anc)


def recv_fds(sock, bufsize, maxfds):
    """(data, fds) from recvmsg with SCM_RIGHTS."""
    data, anc, _, _ = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * _FD_SIZE))
    fds = []
    for level, kind, payload in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(payload) // _FD_SIZE
            fds += struct.unpack(f"{n}i", payload[:n * _FD_SIZE])
    return data, fds


def read_whole(fd):
    """All the bytes of a file (a memfd) from offset 0, whatever its file offset."""
    size = os.fstat(fd).st_size
    chunks, off = [], 0
    while off < size:
        chunk = os.pread(fd, size - off, off)
        if not chunk:
            break
        chunks.append(chunk)
        off += len(chunk)
    return b"".join(chunks)


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls):
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self):
        return self.sock.fileno()

    def send(self, kind, fds=(), **fields):
        fields["t"] = kind
        data = jsonio.dumps(fields).encode()
        if len(data) <= INLINE_MAX:
            send_fds(self.sock, data, list(fds))
            return
        mfd = os.memfd_create("pyrunc-sync", os.MFD_CLOEXEC)
        try:
            view, off = memoryview(data), 0
            while off < len(data):
                off += os.write(mfd, view[off:])
            send_fds(self.sock, _BIG, list(fds) + [mfd])
        finally:
            os.close(mfd)

    def recv(self):
        """(kind, fields, fds); kind is None at EOF (the other side exited or exec'd)."""
        data, fds = recv_fds(self.sock, INLINE_MAX, 8)
        if not data:
            return None, {}, fds
        if data == _BIG and fds:
            mfd = fds.pop()
            try:
                data = read_whole(mfd)
            finally:
                os.close(mfd)
        msg = jsonio.loads(data)
        return msg.pop("t"), msg, fds

    def expect(self, kind):
        got, msg, fds = self.recv()
        if got != kind:
            from runtime.errors import RuntimeFailure

            if got == "error":
                raise RuntimeFailure(msg.get("msg", "error"))
            raise RuntimeFailure(f"container init: expected {kind}, got {got or 'EOF'}")
        return msg, fds

    def close(self):
        self.sock.close()
