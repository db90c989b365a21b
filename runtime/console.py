"""Terminals: the container's pty, --console-socket, and `run`'s attach to the caller's tty."""
import fcntl
import os
import socket
import struct
import termios

from runtime.errors import RuntimeFailure


def set_size(fd, size):
    if size:
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))


def setup_in_container(size, bind_console=True):
    """Open a pty from the container's devpts and make its slave the controlling tty and
    stdio of this process and (bind_console: create, not exec) /dev/console; return the
    master fd (to send to the parent).  finish_process gives the slave to the process's
    user (own_slave) just before the switch to it."""
    try:
        master, slave = os.openpty()
    except OSError as e:
        raise RuntimeFailure(f"process.terminal: open a pty in the container: {e.strerror}") from None
    set_size(slave, size)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.set_inheritable(master, False)
    try:
        if bind_console:
            _bind_console(slave)
    finally:
        os.close(slave)
    return master


def own_slave(uid):
    """Give the terminal's pty slave (our stdin, set up by setup_in_container) to the
    process's uid, as runc does, so a non-root user can use its console; the group stays
    the one devpts gave it (the mount's gid=, 5 "tty" in runc's spec).  Only a Unix98
    pty slave (major 136-143) opened in the container's devpts is touched, by fd: an
    inherited host file (the caller's /dev/null, say) never is.  EINVAL/EPERM (an id
    not mapped in the user namespace) leave it as it is, as runc does."""
    import _stat as stat

    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if not stat.S_ISCHR(st.st_mode) or not 136 <= os.major(st.st_rdev) <= 143 or st.st_uid == uid:
            continue
        try:
            os.fchown(fd, uid, -1)
        except OSError as e:
            if e.errno not in (1, 22):  # EPERM, EINVAL
                raise RuntimeFailure(f"process.terminal: give the pty to uid {uid}: {e.strerror}") from None
        return  # 0, 1 and 2 are the same slave


def _bind_console(slave):
    """Bind the pty over /dev/console (CVE-2025-52565): the mount point is made and
    verified inside the container's /dev with no symlink followed (a /dev/console that
    is a symlink, to /etc/hostname say, is replaced, never written through), and both
    the pty and the mount point are named by fd."""
    import _stat as stat

    from runtime.mounts import MS, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, fd_path, mount, openat2

    nofollow = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
    try:
        dev = openat2(-100, "/dev", os.O_PATH | os.O_DIRECTORY, nofollow)  # AT_FDCWD: the container's /
    except OSError as e:
        raise RuntimeFailure(f"process.terminal: /dev: {e.strerror}") from None
    try:
        try:
            st = os.stat("console", dir_fd=dev, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode):
                raise RuntimeFailure("process.terminal: /dev/console is a directory")
            os.unlink("console", dir_fd=dev)  # a symlink (or fifo, socket): never followed
            st = None
        if st is None:
            try:
                os.close(os.open("console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o600, dir_fd=dev))
            except FileExistsError:
                pass  # raced: verified below
        target = openat2(dev, "console", os.O_PATH | os.O_NOFOLLOW, nofollow | 0x08)  # RESOLVE_BENEATH
        try:
            mode = os.fstat(target).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
                raise RuntimeFailure("process.terminal: /dev/console changed under us: not a file")
            mount(fd_path(slave), fd_path(target), None, MS.BIND,
                  what="process.terminal: bind the pty on /dev/console")
        finally:
            os.close(target)
    except OSError as e:
        raise RuntimeFailure(f"process.terminal: /dev/console: {e.strerror}") from None
    finally:
        os.close(dev)


def send_master(socket_path, master):
    """Hand the pty master to the --console-socket listener (SCM_RIGHTS)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(socket_path)
        socket.send_fds(s, [b"/dev/ptmx"], [master])
    except OSError as e:
        raise RuntimeFailure(f"--console-socket {socket_path}: {e.strerror}") from None
    finally:
        s.close()


class Attach:
    """`run` of a terminal container without --console-socket: the caller's terminal is
    put in raw mode and bytes are copied both ways until the container exits."""

    def __init__(self, master):
        self.master = master
        self.stdin_open = True  # until our stdin reaches EOF
        self.saved = None
        if os.isatty(0):
            import tty

            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            self.resize()

    def resize(self):
        if os.isatty(0):
            ws = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, ws)

    def pump(self, readable):
        """Copy what is readable; return False once the pty is closed."""
        if 0 in readable:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if data:
                os.write(self.master, data)
            else:
                self.stdin_open = False
        if self.master in readable:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the last slave fd closed
                data = b""
            if not data:
                return False
            os.write(1, data)
        return True

    def restore(self):
        if self.saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
            self.saved = None
