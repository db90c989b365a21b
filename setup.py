"""Build steps that pyproject.toml cannot express: see native/build.py."""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from distutils.command.build_scripts import build_scripts

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build as native_build  # noqa: E402


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "runtime")
        native_build.build_init(pkg)
        native_build.build_schema(pkg)


class BuildScripts(build_scripts):
    """bin/pyrunc runs as `<this python> -IS`: no site, no .pth files on each call.

    setuptools and pip would rewrite a `#!python` line and drop the flags, so the
    final line is written here, after their step."""

    def run(self):
        super().run()
        for name in os.listdir(self.build_dir):
            path = os.path.join(self.build_dir, name)
            with open(path, "rb") as f:
                lines = f.read().split(b"\n", 1)
            lines[0] = b"#!" + os.fsencode(sys.executable) + b" -IS"
            with open(path, "wb") as f:
                f.write(b"\n".join(lines))
            os.chmod(path, 0o755)


setup(
    cffi_modules=["native/build_native.py:ffibuilder"],
    scripts=["bin/pyrunc"],
    cmdclass={"build_py": BuildPy, "build_scripts": BuildScripts},
)
