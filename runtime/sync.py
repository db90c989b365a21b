"""The parent <-> container-init channel: JSON messages (and fds) over a SOCK_SEQPACKET pair.

A message larger than INLINE_MAX (the hook state with a config's annotations: Kubernetes
allows 256 KiB of them, and a datagram cannot exceed the socket buffer, ~208 KiB) travels
in a memfd passed along as the message's last fd: any size the engines produce fits.

The channel is a pair of plain fds driven through runtime._native (socketpair,
sendmsg/recvmsg with SCM_RIGHTS): importing Python's `_socket` (and `struct`) costs more
than the whole exchange.  send_fds/recv_fds below are for socket objects (the seccomp
agent's connection).
"""
import errno
import posix

from runtime import jsonio

INLINE_MAX = 32 << 10
MAX_FDS = 8  # per message (the C side takes up to 16)
_BIG = b'{"t": "@memfd"}'


def send_fds(sock, data, fds):
    """sendmsg with SCM_RIGHTS on a socket object (socket.send_fds without the socket module)."""
    import _socket
    import struct

    anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    return sock.sendmsg([data], anc)


def recv_fds(sock, bufsize, maxfds):
    """(data, fds) from recvmsg with SCM_RIGHTS on a socket object."""
    import _socket
    import struct

    size = struct.calcsize("i")
    data, anc, _, _ = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * size))
    fds = []
    for level, kind, payload in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(payload) // size
            fds += struct.unpack(f"{n}i", payload[:n * size])
    return data, fds


def read_whole(fd):
    """All the bytes of a file (a memfd) from offset 0, whatever its file offset."""
    size = posix.fstat(fd).st_size
    chunks, off = [], 0
    while off < size:
        chunk = posix.pread(fd, size - off, off)
        if not chunk:
            break
        chunks.append(chunk)
        off += len(chunk)
    return b"".join(chunks)


def _oserror():
    from runtime._native import ffi

    err = ffi.errno
    return OSError(err, posix.strerror(err))


class Channel:
    def __init__(self, fd):
        self.fd = fd
        self._buf = None

    @classmethod
    def pair(cls):
        from runtime._native import ffi, lib

        sv = ffi.new("int[2]")
        if lib.pyrunc_seqpacket_pair(sv) != 0:
            raise _oserror()
        return cls(sv[0]), cls(sv[1])

    def fileno(self):
        return self.fd

    def _sendmsg(self, data, fds):
        from runtime._native import ffi, lib

        fds = list(fds)
        if lib.pyrunc_send_fds(self.fd, data, len(data), ffi.new("int[]", fds) if fds else ffi.NULL, len(fds)) < 0:
            raise _oserror()

    def _recvmsg(self, flags=0):
        """(data, fds); data is b"" at EOF."""
        from runtime._native import ffi, lib

        if self._buf is None:
            self._buf = ffi.new("char[]", INLINE_MAX)
            self._fds = ffi.new("int[]", MAX_FDS)
            self._nfds = ffi.new("int *")
        n = lib.pyrunc_recv_fds(self.fd, self._buf, INLINE_MAX, flags, self._fds, MAX_FDS, self._nfds)
        if n < 0:
            err = ffi.errno
            raise (BlockingIOError if err == errno.EAGAIN else OSError)(err, posix.strerror(err))
        return ffi.buffer(self._buf, n)[:], [self._fds[i] for i in range(self._nfds[0])]

    def peer_gone(self):
        """EOF without waiting or taking a message: the other end is closed."""
        from runtime._native import lib

        try:
            return self._recvmsg(lib.MSG_DONTWAIT | lib.MSG_PEEK)[0] == b""
        except BlockingIOError:
            return False

    def send(self, kind, fds=(), **fields):
        fields["t"] = kind
        data = jsonio.dumps(fields).encode()
        if len(data) <= INLINE_MAX:
            self._sendmsg(data, fds)
            return
        mfd = posix.memfd_create("pyrunc-sync", posix.MFD_CLOEXEC)
        try:
            view, off = memoryview(data), 0
            while off < len(data):
                off += posix.write(mfd, view[off:])
            self._sendmsg(_BIG, list(fds) + [mfd])
        finally:
            posix.close(mfd)

    def recv(self):
        """(kind, fields, fds); kind is None at EOF (the other side exited or exec'd)."""
        data, fds = self._recvmsg()
        if not data:
            return None, {}, fds
        if data == _BIG and fds:
            mfd = fds.pop()
            try:
                data = read_whole(mfd)
            finally:
                posix.close(mfd)
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
        if self.fd is not None:
            posix.close(self.fd)
            self.fd = None
