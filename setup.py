"""Build steps that pyproject.toml cannot express: see native/build.py."""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.build_ext import build_ext
from distutils.command.build_scripts import build_scripts

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build as native_build  # noqa: E402

native_build.require_build_tools()


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "runtime")
        native_build.build_init(pkg)
        native_build.build_schema(pkg)
        native_build.build_info(pkg)


class BuildExt(build_ext):
    def run(self):
        native_build.explain_failures(super().run)


def _site_dirs():
    """Where this interpreter installs packages (purelib, platlib): the directories
    the installed command puts on sys.path without importing `site`.  Read from
    sysconfig's default scheme, which is the environment's own (a venv's
    site-packages; Debian's /usr/local/lib/pythonX.Y/dist-packages; upstream's
    site-packages); plus, for a venv that sees the system's packages, those.  (A
    wheel built here and installed into another environment is not run from the
    BIN_DIR written beside them, so its command searches from its own place.)"""
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = [paths[k] for k in ("purelib", "platlib")]
    if sys.prefix != sys.base_prefix:
        cfg = os.path.join(sys.prefix, "pyvenv.cfg")
        try:
            with open(cfg) as f:
                system = any(l.replace(" ", "").strip().lower() == "include-system-site-packages=true" for l in f)
        except OSError:
            system = False
        if system:
            import site

            dirs += site.getsitepackages([sys.base_prefix])
    out = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


#: the installed launcher's interpreter flags (see BuildScripts)
LAUNCHER_FLAGS = b"-ISXutf8"


class BuildScripts(build_scripts):
    """bin/pyrunc runs as `<this python> -ISXutf8`: the interpreter starts isolated
    and without `site`, so no .pth file of site-packages runs on each call (every
    container operation is a new process: start-up is latency), and in UTF-8 mode:
    config.json and state files are JSON (UTF-8 whatever the caller's locale), paths
    and arguments are bytes to the kernel and come back unchanged (surrogateescape),
    as under the C.UTF-8 locale, and start-up skips the locale's encoding lookups
    (~0.9M instructions, ~6% of `python3 -IS -c pass`).  The flags are one word: the
    kernel passes a #! line's arguments to the interpreter as one.

    setuptools and pip would rewrite a `#!python` line and drop the flags, so the
    final line is written here, after their step, with the import directories of
    the environment being installed into (bin/pyrunc's SITE_DIRS): a call reads no
    pyvenv.cfg and imports no `site` (whose answers, under -S, differ between
    Debian's patched build and upstream CPython); and its scripts directory
    (BIN_DIR).  The script is compiled anew on every call (a script gets no .pyc;
    compiling its ~15 statements is ~0.1 ms), so run from BIN_DIR it compiles those
    only and imports nothing before runtime/__init__.py; from any other place (a
    copy, a symlink, the source tree), or when SITE_DIRS do not hold pyrunc (a wheel
    built for one environment, installed into another), it runs _SEARCH, source text
    compiled only then, which works them out from the script's real place."""

    def run(self):
        super().run()
        for name in os.listdir(self.build_dir):
            path = os.path.join(self.build_dir, name)
            with open(path, "rb") as f:
                text = f.read()
            first, rest = text.split(b"\n", 1)
            first = b"#!" + os.fsencode(sys.executable) + b" " + LAUNCHER_FLAGS
            marker = b"\nSITE_DIRS = []"
            if marker in rest:
                rest = rest.replace(marker, b"\nSITE_DIRS = " + repr(_site_dirs()).encode(), 1)
            marker = b'\nBIN_DIR = ""'
            if marker in rest:
                import sysconfig

                rest = rest.replace(marker, b"\nBIN_DIR = " + repr(sysconfig.get_paths()["scripts"]).encode(), 1)
            with open(path, "wb") as f:
                f.write(first + b"\n" + rest)
            os.chmod(path, 0o755)


setup(
    cffi_modules=["native/build_native.py:ffibuilder"],
    scripts=["bin/pyrunc"],
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt, "build_scripts": BuildScripts},
)
