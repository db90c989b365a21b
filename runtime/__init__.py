"""pyrunc, an OCI runtime.

Every lifecycle call is a new process, and importing a module through the standard
import machinery costs ~250k instructions before its code runs (finding it on the
path, module locks, reading and checking its .pyc: ~0.2 ms here), which for the ~25
modules of `create` is more than all of create's own work.  preload() loads a known
list of this package's modules straight from their compiled files (~40k each): a
module whose .pyc is missing, stale (checked as import checks it) or of another
interpreter is left to the standard machinery, as is any module not in a list, so a
list is only ever a matter of speed, never of what runs.  runtime/cli.py holds the
lists (one per command, in dependency order); tests/test_imports.py checks that they
stay complete.

The C extension runtime._native is preloaded too, from its path (the first of the
interpreter's extension suffixes that is there, as import takes it): the import
machinery would list runtime/ to find it (~0.1 ms).
"""
import _imp
import marshal
import posix
import sys

_BOOT = sys.modules["_frozen_importlib"]
_EXT = sys.modules["_frozen_importlib_external"]
_DIR = __file__.rpartition("/")[0]
_TAG = f"{sys.implementation.cache_tag}.pyc"


def preload(names):
    """Import each of `names` (dotted, under `runtime.`, parents before children and
    each after the modules it imports) that is not imported yet and whose .pyc matches
    its source, as the standard machinery would have: the same attributes, the same
    sys.modules entry, bound on its parent package."""
    modules = sys.modules
    for name in names:
        parent, _, child = name.rpartition(".")
        if name in modules or parent not in modules or not name.startswith("runtime."):
            continue  # imported already; its package was not (left to the machinery); not ours
        rel = name[8:].replace(".", "/")  # after "runtime."
        if rel in _EXTENSIONS:  # the first file of the name import would take
            for suffix in _SUFFIXES:
                try:
                    posix.stat(f"{_DIR}/{rel}{suffix}")
                except OSError:
                    continue
                load_extension(name, f"{_DIR}/{rel}{suffix}", modules[parent], child)
                break
            continue
        head, _, leaf = rel.rpartition("/")
        d = f"{_DIR}/{head}" if head else _DIR
        if rel in _PACKAGES:
            d, leaf, path = f"{d}/{leaf}", "__init__", [f"{d}/{leaf}"]
        else:
            path = None
        src, pyc = f"{d}/{leaf}.py", f"{d}/__pycache__/{leaf}.{_TAG}"
        try:
            st = posix.stat(src)
            fd = posix.open(pyc, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            continue
        try:
            data = posix.read(fd, posix.fstat(fd).st_size)
        except OSError:
            continue
        finally:
            posix.close(fd)
        if not _current(data, st, src):
            continue
        try:
            code = marshal.loads(memoryview(data)[16:])
        except (EOFError, ValueError, TypeError):
            continue  # damaged: the standard machinery recompiles it
        loader = _EXT.SourceFileLoader(name, src)
        spec = _BOOT.ModuleSpec(name, loader, origin=src, is_package=path is not None)
        spec.cached, spec.has_location = pyc, True
        if path is not None:
            spec.submodule_search_locations = path
        module = type(sys)(name)
        module.__spec__, module.__loader__, module.__file__, module.__cached__ = spec, loader, src, pyc
        module.__package__ = name if path is not None else parent
        if path is not None:
            module.__path__ = path
        modules[name] = module
        try:
            exec(code, module.__dict__)
        except BaseException:
            modules.pop(name, None)
            raise
        setattr(modules[parent], child, module)


def load_extension(name, path, parent, child):
    """Import the C extension module `name` from the file `path` as import would (its
    spec, sys.modules entry, binding on `parent` as `child`)."""
    loader = _EXT.ExtensionFileLoader(name, path)
    spec = _BOOT.ModuleSpec(name, loader, origin=path)
    spec.has_location = True
    module = _BOOT.module_from_spec(spec)  # dlopen and PyInit
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    setattr(parent, child, module)


def command():
    """runtime.cli.run, with what it imports preloaded (bin/pyrunc calls this)."""
    preload(CLI)
    from runtime.cli import run

    return run


def _current(data, st, src):
    """Whether a .pyc's header says it is of this interpreter and of this source, by
    the rule import applies: the source's mtime and size for a timestamp .pyc; for a
    hash-based one (pip under SOURCE_DATE_EPOCH writes them), the source's hash when
    the .pyc asks for the check (or --check-hash-based-pycs says always)."""
    if data[:4] != _EXT.MAGIC_NUMBER:
        return False
    flags = data[4:8]
    if flags == b"\0\0\0\0":
        return data[8:16] == (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + \
            (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    if flags not in (b"\1\0\0\0", b"\3\0\0\0"):
        return False
    mode = _imp.check_hash_based_pycs
    if mode == "never" or (flags == b"\1\0\0\0" and mode != "always"):
        return True  # an unchecked hash-based .pyc: import does not look at the source either
    try:
        fd = posix.open(src, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            source = posix.read(fd, st.st_size + 1)
        finally:
            posix.close(fd)
    except OSError:
        return False
    return len(source) == st.st_size and data[8:16] == _imp.source_hash(_EXT._RAW_MAGIC_NUMBER, source)


#: what runtime/cli.py imports, in order (bin/pyrunc preloads them before it)
CLI = ("runtime.jsonio", "runtime.log", "runtime.errors", "runtime.cli")

#: the sub-packages of runtime/ (a name among them is a directory with __init__.py)
_PACKAGES = ("commands", "cgroups")
#: the C extensions of runtime/ (runtime/<name><an extension suffix>)
_EXTENSIONS = ("_native",)
_SUFFIXES = _imp.extension_suffixes()
