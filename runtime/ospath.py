"""The os.path functions (and os.makedirs, a directories-only os.walk) this package
uses, on `posix` alone.

Every lifecycle call is a new process, and `import os` costs ~0.8 ms here (most of it
_collections_abc's ABC classes), a tenth of create's own work; nothing else on the path
of create, run or exec needs `os`.  Each function answers as its os.path namesake does
for str paths (the only kind this package handles).
"""
import posix

_S_IFMT, _S_IFDIR, _S_IFLNK = 0o170000, 0o040000, 0o120000


def join(a, *rest):
    """os.path.join."""
    path = a
    for b in rest:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def dirname(p):
    """os.path.dirname."""
    head = p[:p.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def basename(p):
    """os.path.basename."""
    return p[p.rfind("/") + 1:]


def isabs(p):
    """os.path.isabs."""
    return p.startswith("/")


def normpath(path):
    """os.path.normpath: '.', '..' and repeated '/' removed lexically (POSIX keeps a
    leading '//')."""
    if not path:
        return "."
    lead = 2 if path.startswith("//") and not path.startswith("///") else 1 if path.startswith("/") else 0
    parts = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp != ".." or (not lead and not parts) or (parts and parts[-1] == ".."):
            parts.append(comp)
        elif parts:
            parts.pop()
    return "/" * lead + "/".join(parts) or "."


def abspath(path):
    """os.path.abspath."""
    if not path.startswith("/"):
        path = join(posix.getcwd(), path)
    return normpath(path)


def relpath(path, start="."):
    """os.path.relpath."""
    if not path:
        raise ValueError("no path specified")
    to, frm = [c for c in abspath(path).split("/") if c], [c for c in abspath(start).split("/") if c]
    i = 0
    while i < len(to) and i < len(frm) and to[i] == frm[i]:
        i += 1
    return "/".join([".."] * (len(frm) - i) + to[i:]) or "."


def _mode(path, stat):
    try:
        return stat(path).st_mode & _S_IFMT
    except (OSError, ValueError):
        return None


def exists(path):
    """os.path.exists."""
    return _mode(path, posix.stat) is not None


def lexists(path):
    """os.path.lexists."""
    return _mode(path, posix.lstat) is not None


def isdir(path):
    """os.path.isdir."""
    return _mode(path, posix.stat) == _S_IFDIR


def islink(path):
    """os.path.islink."""
    return _mode(path, posix.lstat) == _S_IFLNK


def realpath(path):
    """os.path.realpath (not strict: a part that does not exist is kept as it is, and
    so is the rest of a path caught in a symlink loop).  A path that exists is asked of
    the kernel (an O_PATH fd's /proc/self/fd link: 3 syscalls), anything else walked
    part by part."""
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_CLOEXEC)
    except (OSError, ValueError):
        fd = -1
    if fd >= 0:
        try:
            real = posix.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            real = ""
        finally:
            posix.close(fd)
        if real.startswith("/") and not real.endswith(" (deleted)"):
            return real
    return _walk_real(path if path.startswith("/") else join(posix.getcwd(), path))


def _walk_real(path):
    """realpath of an absolute path by lstat and readlink of each part in turn."""
    done, todo, links = "/", path.split("/")[::-1], 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":
            done = dirname(done)
            continue
        step = f"{done}/{name}" if done != "/" else f"/{name}"
        if _mode(step, posix.lstat) != _S_IFLNK:
            done = step  # a directory, a file, or missing: kept as it is
            continue
        links += 1
        if links > 40:  # a loop: the rest stays unresolved
            return normpath("/".join([step] + todo[::-1]))
        target = posix.readlink(step)
        if target.startswith("/"):
            done = "/"
        todo.extend(target.split("/")[::-1])
    return done


def makedirs(path, mode=0o777):
    """os.makedirs(path, mode, exist_ok=True): missing parents are made with 0777 (less
    the umask), as os.makedirs does; FileExistsError when path is there but is not a
    directory."""
    try:
        posix.mkdir(path, mode)
    except FileNotFoundError:
        head = dirname(path.rstrip("/"))
        if not head or head == path:
            raise
        makedirs(head)
        try:
            posix.mkdir(path, mode)
        except FileExistsError:
            if not isdir(path):
                raise
    except FileExistsError:
        if not isdir(path):
            raise


def walk_dirs(top, topdown=True):
    """The directory paths os.walk(top, topdown) yields (top and every directory under
    it, never through a symlink; a directory that cannot be listed is left out with what
    is under it, as os.walk does when no onerror is given)."""
    try:
        with posix.scandir(top) as it:
            subs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    if topdown:
        yield top
    for d in subs:
        yield from walk_dirs(d, topdown)
    if not topdown:
        yield top
