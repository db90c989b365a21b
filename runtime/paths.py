"""os.path, os.walk and os.makedirs for str paths, on `posix` alone.

Importing `os` costs ~4.4M instructions (~0.5 ms) on every call: it builds os.environ and
imports _collections_abc, posixpath, genericpath (callgrind; runtime/cli.py explains
why the small commands import `posix` instead).  create, run and exec need a dozen of
os.path's functions; these are CPython 3.11's posixpath, genericpath and os code for
them, str only, with `posix` for `os` (tests/test_paths.py checks them against os.path
on generated paths and a tree of symlinks).  The modules of those commands import
`posix as os` and this.
"""
import posix
import stat as _stat

from posix import _path_normpath

_SEP = "/"


def isabs(s):
    return s.startswith(_SEP)


def join(a, *p):
    path = a
    for b in p:
        if b.startswith(_SEP):
            path = b
        elif not path or path.endswith(_SEP):
            path += b
        else:
            path += _SEP + b
    return path


def split(p):
    i = p.rfind(_SEP) + 1
    head, tail = p[:i], p[i:]
    if head and head != _SEP * len(head):
        head = head.rstrip(_SEP)
    return head, tail


def basename(p):
    return p[p.rfind(_SEP) + 1:]


def dirname(p):
    i = p.rfind(_SEP) + 1
    head = p[:i]
    if head and head != _SEP * len(head):
        head = head.rstrip(_SEP)
    return head


def normpath(path):
    return _path_normpath(path) or "."


def abspath(path):
    if not isabs(path):
        path = join(posix.getcwd(), path)
    return normpath(path)


def exists(path):
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def lexists(path):
    try:
        posix.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def isfile(path):
    try:
        st = posix.stat(path)
    except (OSError, ValueError):
        return False
    return _stat.S_ISREG(st.st_mode)


def isdir(s):
    try:
        st = posix.stat(s)
    except (OSError, ValueError):
        return False
    return _stat.S_ISDIR(st.st_mode)


def islink(path):
    try:
        st = posix.lstat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return _stat.S_ISLNK(st.st_mode)


def realpath(filename, *, strict=False):
    path, ok = _joinrealpath("", filename, strict, {})
    return abspath(path)


def _joinrealpath(path, rest, strict, seen):
    if isabs(rest):
        rest = rest[1:]
        path = _SEP
    while rest:
        name, _, rest = rest.partition(_SEP)
        if not name or name == ".":
            continue
        if name == "..":
            if path:
                path, name = split(path)
                if name == "..":
                    path = join(path, "..", "..")
            else:
                path = ".."
            continue
        newpath = join(path, name)
        try:
            st = posix.lstat(newpath)
        except OSError:
            if strict:
                raise
            is_link = False
        else:
            is_link = _stat.S_ISLNK(st.st_mode)
        if not is_link:
            path = newpath
            continue
        if newpath in seen:  # resolved before, or a symlink loop
            path = seen[newpath]
            if path is not None:
                continue
            if strict:
                posix.stat(newpath)  # raises ELOOP
            else:
                return join(newpath, rest), False
        seen[newpath] = None
        path, ok = _joinrealpath(path, posix.readlink(newpath), strict, seen)
        if not ok:
            return join(path, rest), False
        seen[newpath] = path
    return path, True


def _commonprefix(m):
    if not m:
        return ""
    s1, s2 = min(m), max(m)
    for i, c in enumerate(s1):
        if c != s2[i]:
            return s1[:i]
    return s1


def relpath(path, start=None):
    if not path:
        raise ValueError("no path specified")
    if start is None:
        start = "."
    start_list = [x for x in abspath(start).split(_SEP) if x]
    path_list = [x for x in abspath(path).split(_SEP) if x]
    i = len(_commonprefix([start_list, path_list]))
    rel_list = [".."] * (len(start_list) - i) + path_list[i:]
    if not rel_list:
        return "."
    return join(*rel_list)


def makedirs(name, mode=0o777, exist_ok=False):
    head, tail = split(name)
    if not tail:
        head, tail = split(head)
    if head and tail and not exists(head):
        try:
            makedirs(head, exist_ok=exist_ok)
        except FileExistsError:
            pass  # another process made it meanwhile
        if tail == ".":
            return
    try:
        posix.mkdir(name, mode)
    except OSError:
        # EEXIST may hide behind EACCES or EROFS
        if not exist_ok or not isdir(name):
            raise


def walk(top, topdown=True, onerror=None, followlinks=False):
    """os.walk: (dirpath, dirnames, filenames) for top and every directory below."""
    dirs, nondirs, walk_dirs = [], [], []
    try:
        scandir_it = posix.scandir(top)
    except OSError as error:
        if onerror is not None:
            onerror(error)
        return
    with scandir_it:
        while True:
            try:
                try:
                    entry = next(scandir_it)
                except StopIteration:
                    break
            except OSError as error:
                if onerror is not None:
                    onerror(error)
                return
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                dirs.append(entry.name)
            else:
                nondirs.append(entry.name)
            if not topdown and is_dir:
                if followlinks:
                    walk_into = True
                else:
                    try:
                        is_symlink = entry.is_symlink()
                    except OSError:
                        is_symlink = False
                    walk_into = not is_symlink
                if walk_into:
                    walk_dirs.append(entry.path)
    if topdown:
        yield top, dirs, nondirs
        for d in dirs:
            new_path = join(top, d)
            if followlinks or not islink(new_path):
                yield from walk(new_path, topdown, onerror, followlinks)
    else:
        for new_path in walk_dirs:
            yield from walk(new_path, topdown, onerror, followlinks)
        yield top, dirs, nondirs
