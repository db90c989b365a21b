"""OCI hooks: run each with the container's state on stdin, honouring `timeout`.

prestart and createRuntime run in the runtime's namespaces (from the create process),
createContainer in the container's namespaces before pivot_root (from the container's
init), startContainer inside the container after start (by pyrunc-init, see
encode_for_init), poststart after the program started and poststop after delete.
Working directories as runc's: the bundle for prestart, createRuntime, poststart and
poststop, the rootfs for createContainer, process.cwd for startContainer.
"""
import os

from runtime import jsonio
from runtime.errors import RuntimeFailure

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def get(config, kind):
    return (config.get("hooks") or {}).get(kind) or []


def hook_cwd(kind, state):
    """The working directory a hook of this kind gets, as runc gives it: the bundle for
    prestart, createRuntime and poststart (runc chdirs there); for poststop too (runc
    leaves the caller's, which is the bundle for the engines).  createContainer inherits
    the container init's, which has made it the rootfs (None: inherit)."""
    if kind == "createContainer":
        return None
    import _stat as stat

    bundle = state.get("bundle") if isinstance(state, dict) else None
    try:
        if bundle and stat.S_ISDIR(os.stat(bundle).st_mode):
            return bundle
    except OSError:
        pass
    return "/"


def run_one(hook, state_json, field, cwd="/"):
    """Run one hook; raise RuntimeFailure naming the hook if it fails or times out."""
    import subprocess

    path = hook["path"]
    args = hook.get("args") or [path]
    env = {}
    for kv in hook.get("env") or ():
        k, _, v = kv.partition("=")
        env[k] = v
    timeout = hook.get("timeout")
    try:
        p = subprocess.Popen(args, executable=path, env=env, stdin=subprocess.PIPE, close_fds=True, cwd=cwd)
    except OSError as e:
        raise RuntimeFailure(f"{field}: {path}: {e.strerror}") from None
    try:
        p.communicate(state_json.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise RuntimeFailure(f"{field}: {path} timed out after {timeout}s") from None
    except BrokenPipeError:
        p.wait()
    if p.returncode != 0:
        how = f"exit status {p.returncode}" if p.returncode > 0 else f"signal {-p.returncode}"
        raise RuntimeFailure(f"{field}: {path} failed with {how}")


def run(config, kind, state):
    """Run all hooks of one kind in order; the first failure stops the rest."""
    hooks = get(config, kind)
    if not hooks:
        return
    state_json = jsonio.dumps(state)
    cwd = hook_cwd(kind, state)
    for i, h in enumerate(hooks):
        run_one(h, state_json, f"hooks.{kind}[{i}]", cwd)


def run_all_warn(config, kind, state, warn):
    """Run all hooks of one kind; failures are reported to warn() and the rest still run."""
    hooks = get(config, kind)
    state_json = jsonio.dumps(state) if hooks else ""
    cwd = hook_cwd(kind, state) if hooks else "/"
    for i, h in enumerate(hooks):
        try:
            run_one(h, state_json, f"hooks.{kind}[{i}]", cwd)
        except RuntimeFailure as e:
            warn(str(e))


def encode_for_init(config, state):
    """startContainer hooks as pyrunc-init instructions (see native/init.c)."""
    words = []
    hooks = get(config, "startContainer")
    if hooks:
        words += ["state", jsonio.dumps(state)]
    for h in hooks:
        args = h.get("args") or [h["path"]]
        env = h.get("env") or []
        words += ["hook", str(int(h.get("timeout") or 0)), h["path"], str(len(args)), *args,
                  str(len(env)), *env]
    return words
