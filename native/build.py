"""Build steps shared by setup.py and the in-place developer build.

    python native/build.py        # build into runtime/ in the source tree

- runtime/_native*.so  the cffi extension (native/build_native.py, native/native.c)
- runtime/pyrunc-init  the static waiter/exec program (native/init.c)
- runtime/schema/      the JSON Schemas from spec/
- runtime/_validator.py  a validator compiled from them by spec/compile.py
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_init(pkg):
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    out = os.path.join(pkg, "pyrunc-init")
    cmd = cc + ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror",
                "-o", out, os.path.join(ROOT, "native", "init.c")]
    subprocess.check_call(cmd)
    os.chmod(out, 0o755)


def build_schema(pkg):
    dest = os.path.join(pkg, "schema")
    os.makedirs(dest, exist_ok=True)
    for f in glob.glob(os.path.join(ROOT, "spec", "*.json")):
        shutil.copy(f, dest)
    compiler = os.path.join(ROOT, "spec", "compile.py")
    if os.path.exists(compiler):
        subprocess.check_call([sys.executable, compiler, os.path.join(pkg, "_validator.py")])


def build_native_inplace(pkg):
    sys.path.insert(0, os.path.join(ROOT, "native"))
    from build_native import ffibuilder
    tmp = os.path.join(ROOT, "build", "cffi")
    lib = ffibuilder.compile(tmpdir=tmp)
    shutil.copy(lib, pkg)


if __name__ == "__main__":
    pkg = os.path.join(ROOT, "runtime")
    build_native_inplace(pkg)
    build_init(pkg)
    build_schema(pkg)
