"""The parent <-> container-init channel: JSON messages (and fds) over a SOCK_SEQPACKET pair."""
import json
import socket


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self):
        return self.sock.fileno()

    def send(self, kind, fds=(), **fields):
        fields["t"] = kind
        data = json.dumps(fields).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def recv(self):
        """(kind, fields, fds); kind is None at EOF (the other side exited or exec'd)."""
        data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 4)
        if not data:
            return None, {}, fds
        msg = json.loads(data)
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
