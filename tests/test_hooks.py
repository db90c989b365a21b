"""hooks: order, namespaces, the state on stdin, args/env, failures."""

import json
import os
import time

import pytest

from util import assert_error, shell, state_dir_exists, wait_file

HOST_HOOKS = ("prestart", "createRuntime", "createContainer", "poststart",
              "poststop")


def host_hook(tdir, log):
    """A host hook: appends '<name> <mnt-ns> <state-json>' to ``log``."""
    path = os.path.join(tdir, "hook.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "s=$(cat)\n"
                'echo "$1 $(readlink /proc/self/ns/mnt) $s" >> ' + log + "\n")
    os.chmod(path, 0o755)
    return path


def parse_log(path):
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2) + ["", ""]
            name, ns, rest = parts[:3]
            entries.append((name, ns, json.loads(rest) if rest.startswith("{")
                            else rest))
    return entries


def hooked_bundle(make_bundle, tdir, script="echo main-$$ >> /hooks/log"):
    """Bundle with every hook type; /hooks (host dir) holds the log."""
    hdir = os.path.join(tdir, "hooks")
    os.makedirs(hdir, exist_ok=True)
    log = os.path.join(hdir, "log")
    hook = host_hook(tdir, log)
    b = make_bundle(shell(script), write=False)
    b.add_mount("/hooks", "bind", hdir, ["rbind", "rw"])
    # startContainer runs in the container: its path is in the rootfs
    b.add_file("/bin/start-hook", "#!/bin/sh\ns=$(cat)\n"
               'echo "$1 $(readlink /proc/self/ns/mnt) $s" >> /hooks/log\n',
               0o755)
    b.config["hooks"] = {
        name: [{"path": hook, "args": ["hook.sh", name]}]
        for name in HOST_HOOKS}
    b.config["hooks"]["startContainer"] = [
        {"path": "/bin/start-hook", "args": ["start-hook", "startContainer"]}]
    return b, log


def test_hooks_order_and_state(rt, cid, make_bundle, tdir):
    b, log = hooked_bundle(make_bundle, tdir)
    b.write()
    host_mnt = os.readlink("/proc/self/ns/mnt")
    r = rt.create(cid, b)
    assert r.rc == 0, r
    pid = rt.state(cid)["pid"]
    names = [e[0] for e in parse_log(log)]
    # (runc 1.1.5 also runs poststart here: see the not_runc test below)
    assert names[:3] == ["prestart", "createRuntime", "createContainer"], \
        names
    r = rt.start(cid)
    assert r.rc == 0, r
    # poststart ran before start returned
    names = [e[0] for e in parse_log(log)]
    assert "poststart" in names, names
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert rt.delete(cid).rc == 0
    entries = parse_log(log)
    names = [e[0] for e in entries]
    assert set(names) == set(HOST_HOOKS) | {"startContainer"} | \
        {n for n in names if n.startswith("main-")}, names
    idx = {n: i for i, n in enumerate(names)}
    main = [n for n in names if n.startswith("main-")]
    assert len(main) == 1, names
    assert idx["createContainer"] < idx["startContainer"] < idx[main[0]]
    assert idx["createRuntime"] < idx["poststart"]
    assert names[-1] == "poststop"

    by = {e[0]: e for e in entries}
    for name in list(HOST_HOOKS) + ["startContainer"]:
        st = by[name][2]
        assert isinstance(st, dict), (name, st)
        assert st["id"] == cid and st["bundle"] == b.path, (name, st)
        assert st["ociVersion"].startswith("1."), (name, st)
    # namespaces: runtime-namespace hooks on the host, container ones inside
    for name in ("prestart", "createRuntime", "poststart", "poststop"):
        assert by[name][1] == host_mnt, name
    for name in ("createContainer", "startContainer"):
        assert by[name][1] != host_mnt, name
    assert by["createRuntime"][2]["pid"] == pid
    assert by["poststop"][2]["status"] == "stopped"


@pytest.mark.not_runc  # runc 1.1.5 passes "creating"
def test_create_hooks_get_status_created(rt, cid, make_bundle, tdir):
    """prestart, createRuntime and createContainer are lifecycle steps 3-5: they come
    after step 2, whose end the spec's state calls `created`."""
    b, log = hooked_bundle(make_bundle, tdir, "true")
    b.write()
    assert rt.create(cid, b).rc == 0
    st = {e[0]: e[2] for e in parse_log(log)}
    for name in ("prestart", "createRuntime", "createContainer"):
        assert st[name]["status"] == "created", (name, st[name])
        assert st[name]["pid"] == rt.state(cid)["pid"], (name, st[name])
    assert rt.start(cid).rc == 0
    assert {e[0]: e[2] for e in parse_log(log)}["startContainer"]["status"] == "created"


@pytest.mark.not_runc
def test_poststart_after_start_container(rt, cid, make_bundle, tdir):
    """poststart: after the user process is executed, not at create (runc
    1.1.5 runs it during create)."""
    b, log = hooked_bundle(make_bundle, tdir, "sleep 1")
    b.write()
    assert rt.create(cid, b).rc == 0
    names = [e[0] for e in parse_log(log)]
    assert names == ["prestart", "createRuntime", "createContainer"], names
    assert rt.start(cid).rc == 0
    names = [e[0] for e in parse_log(log)]
    assert names.index("startContainer") < names.index("poststart"), names
    st = {e[0]: e[2] for e in parse_log(log)}
    assert st["startContainer"]["status"] == "created"
    assert st["poststart"]["status"] == "running"


def test_hook_args_and_env(rt, cid, make_bundle, tdir):
    out = os.path.join(tdir, "hook-out")
    hook = os.path.join(tdir, "env-hook.sh")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\necho "argv0=$0 args=$* foo=$FOO path=$PATH" '
                f'> {out}\n')
    os.chmod(hook, 0o755)
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"createRuntime": [{
        "path": hook, "args": ["custom-argv0", "a1", "a 2"],
        "env": ["FOO=bar", "PATH=/usr/bin:/bin"]}]}
    b.write()
    assert rt.run(cid, b).rc == 0
    text = open(out).read()
    assert "args=a1 a 2" in text, text
    assert "foo=bar" in text and "path=/usr/bin:/bin" in text, text


def test_create_runtime_hook_failure_aborts_create(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert rt.state_raw(cid).rc != 0
    assert not state_dir_exists(rt, cid)


def test_prestart_hook_failure_aborts_create(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert not state_dir_exists(rt, cid)


def test_create_container_hook_failure_aborts_create(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"createContainer": [{"path": "/bin/false"}]}
    b.write()
    assert_error(rt.create(cid, b), rt)
    assert not state_dir_exists(rt, cid)


def test_hook_timeout(rt, cid, make_bundle, tdir):
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    b.write()
    t0 = time.monotonic()
    r = rt.create(cid, b)
    assert r.rc != 0, r
    assert time.monotonic() - t0 < 15
    assert not state_dir_exists(rt, cid)


def test_poststop_failure_does_not_block_delete(rt, cid, make_bundle, tdir):
    mark = os.path.join(tdir, "second-poststop")
    b = make_bundle(["true"], write=False)
    b.config["hooks"] = {"poststop": [
        {"path": "/bin/false"},
        {"path": "/bin/sh", "args": ["sh", "-c", f"touch {mark}"]}]}
    b.write()
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    rt.delete(cid)
    assert rt.state_raw(cid).rc != 0
    assert not state_dir_exists(rt, cid)


def test_poststop_runs_on_delete_force(rt, cid, make_bundle, tdir):
    mark = os.path.join(tdir, "poststop-ran")
    b = make_bundle(["sleep", "30"], write=False)
    b.config["hooks"] = {"poststop": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {mark}"]}]}
    b.write()
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    assert rt.delete(cid, force=True).rc == 0
    st = json.loads(wait_file(mark, "}"))
    assert st["id"] == cid


def test_hooks_run_by_run_command(rt, cid, make_bundle, tdir):
    b, log = hooked_bundle(make_bundle, tdir)
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    names = [e[0] for e in parse_log(log)]
    for name in list(HOST_HOOKS) + ["startContainer"]:
        assert name in names, (name, names)
    assert names[-1] == "poststop"
