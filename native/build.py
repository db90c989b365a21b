"""Build steps shared by setup.py and the in-place developer build.

    python native/build.py        # build into runtime/ in the source tree

- runtime/_native*.so  the cffi extension (native/build_native.py, native/native.c)
- runtime/pyrunc-init  the static waiter/exec program (native/init.c)
- runtime/schema/      the JSON Schemas from spec/
- runtime/_validator.py  a validator compiled from them by spec/compile.py (and its
                         parts, runtime/_validator_<part>.py)
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What building pyrunc needs from the system, as (Debian package, file that proves it).
BUILD_NEEDS = [
    ("gcc", None),
    ("libc6-dev", "/usr/include/stdio.h"),
    ("python3-dev", None),
    ("libseccomp-dev", "/usr/include/seccomp.h"),
]
MISSING_HINT = "pyrunc needs Debian packages to build: apt-get install gcc libc6-dev python3-dev libseccomp-dev"


class BuildToolsMissing(SystemExit):
    pass


def _missing_build_tools():
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    missing = []
    if not shutil.which(cc):
        missing.append(f"a C compiler ({cc})")
    for pkg, proof in BUILD_NEEDS:
        if proof and not os.path.exists(proof):
            missing.append(f"{pkg} ({proof})")
    header = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    if not os.path.exists(header):
        missing.append(f"the Python headers ({header}; Debian: python3-dev)")
    return missing


def require_build_tools():
    """Fail the build with one line when a system package it needs is missing, instead
    of a compiler traceback further down."""
    missing = _missing_build_tools()
    if missing:
        raise BuildToolsMissing(f"error: missing {', '.join(missing)}. {MISSING_HINT}")


def explain_failures(step):
    """Run a compile step; a failure becomes one line naming what to install."""
    try:
        step()
    except (subprocess.CalledProcessError, OSError, Exception) as e:
        if isinstance(e, SystemExit):
            raise
        raise BuildToolsMissing(f"error: building pyrunc's C parts failed ({type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}). {MISSING_HINT}") from None


def build_init(pkg):
    explain_failures(lambda: _build_init(pkg))


# pyrunc-init without libc (x86_64, aarch64: init.c makes its own system calls): ~12 kB
# instead of ~700 kB of static glibc, copied into a memfd and exec'd on every create and
# exec, and mapped by every waiting container.
NOLIBC_FLAGS = ["-DPYRUNC_NOLIBC", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fno-pie",
                "-no-pie", "-fno-asynchronous-unwind-tables"]


def _build_init(pkg):
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    out = os.path.join(pkg, "pyrunc-init")
    base = cc + ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o", out + ".new",
                 os.path.join(ROOT, "native", "init.c")]
    try:
        subprocess.check_call(base + NOLIBC_FLAGS + ["-lgcc"], stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:  # another architecture: through libc's syscall()
        subprocess.check_call(base)
    os.chmod(out + ".new", 0o755)
    os.rename(out + ".new", out)  # never a half-written helper for a create running meanwhile


def build_info(pkg):
    """runtime/_buildinfo.py: the commit the package was built from (`pyrunc --version`)."""
    try:
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=12"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    with open(os.path.join(pkg, "_buildinfo.py"), "w") as f:
        f.write(f"COMMIT = {commit or 'unknown'!r}\n")


def build_schema(pkg):
    dest = os.path.join(pkg, "schema")
    os.makedirs(dest, exist_ok=True)
    for f in glob.glob(os.path.join(ROOT, "spec", "*.json")):
        shutil.copy(f, dest)
    compiler = os.path.join(ROOT, "spec", "compile.py")
    if os.path.exists(compiler):
        # _validator.py and its parts _validator_<part>.py, each written by rename
        subprocess.check_call([sys.executable, compiler, os.path.join(pkg, "_validator.py")])


def build_native_inplace(pkg):
    sys.path.insert(0, os.path.join(ROOT, "native"))
    from build_native import ffibuilder
    tmp = os.path.join(ROOT, "build", "cffi")
    lib = ffibuilder.compile(tmpdir=tmp)
    _replace(lib, os.path.join(pkg, os.path.basename(lib)))


def _replace(src, dest):
    """Copy src over dest by rename: a process that has dest mapped (a test run using
    the tree while it is rebuilt) keeps the old file instead of crashing on a
    truncated one."""
    tmp = dest + ".new"
    shutil.copy(src, tmp)
    os.rename(tmp, dest)


if __name__ == "__main__":
    pkg = os.path.join(ROOT, "runtime")
    build_native_inplace(pkg)
    build_init(pkg)
    build_schema(pkg)
    build_info(pkg)
