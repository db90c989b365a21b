"""Network namespace setup: a new network namespace gets its loopback interface up."""
import fcntl
import posix
import sys

from runtime.errors import RuntimeFailure

SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1


def _ifreq(name, flags):
    """struct ifreq with ifr_name and ifr_flags (the rest zero), without `struct`."""
    return name.ljust(16, b"\0") + flags.to_bytes(2, sys.byteorder) + bytes(22)


def loopback_up():
    from runtime._native import ffi, lib

    # a socket through _native: importing Python's `_socket` costs more than this call
    s = lib.socket(lib.AF_INET, lib.SOCK_DGRAM | lib.SOCK_CLOEXEC, 0)
    try:
        if s < 0:
            raise OSError(ffi.errno, posix.strerror(ffi.errno))
        flags = int.from_bytes(fcntl.ioctl(s, SIOCGIFFLAGS, _ifreq(b"lo", 0))[16:18], sys.byteorder)
        fcntl.ioctl(s, SIOCSIFFLAGS, _ifreq(b"lo", flags | IFF_UP))
    except OSError as e:
        raise RuntimeFailure(f"linux.namespaces: bring up lo in the new network namespace: {e.strerror}") from None
    finally:
        if s >= 0:
            posix.close(s)
