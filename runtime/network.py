"""Network namespace setup: a new network namespace gets its loopback interface up."""
import _socket  # the C module: `socket` imports enum
import fcntl
import struct

from runtime.errors import RuntimeFailure

SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1


def loopback_up():
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, 0)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    except OSError as e:
        raise RuntimeFailure(f"linux.namespaces: bring up lo in the new network namespace: {e.strerror}") from None
    finally:
        s.close()
