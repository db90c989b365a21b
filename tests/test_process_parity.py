"""process.* where pyrunc follows runc 1.1.5 (issue 8, "Process"): the cwd made before the
root is read-only and entered as root first, the terminal's pty owned by the process's
user, LISTEN_FDS passed on, frozen or busy cgroups, a config without `process`, --debug."""

import json
import os

import pytest

from util import assert_error, shell


def test_missing_cwd_is_made_under_a_readonly_root(rt, cid, make_bundle):
    b = make_bundle(shell('pwd; stat -c "%a %u" .'), process={"cwd": "/made/by/runtime"},
                    root={"readonly": True})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/made/by/runtime", "755", "0"]
    assert os.path.isdir(b.rootfs_path("made/by/runtime"))


def test_missing_cwd_is_made_as_root_for_another_user(rt, cid, make_bundle):
    # the user cannot write / of the rootfs: the runtime makes the cwd before the switch
    b = make_bundle(shell("pwd; id -u"), process={"cwd": "/opt/new/cwd", "user": {"uid": 1000, "gid": 1000}},
                    root={"readonly": True})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/opt/new/cwd", "1000"]


def test_cwd_the_user_cannot_enter_is_entered_as_root_first(rt, cid, make_bundle):
    # runc's "runc create can chdir if runc has access": a 0700 root-owned cwd
    b = make_bundle(shell("pwd; id -u; ls . >/dev/null 2>&1 && echo listed || echo denied"),
                    process={"cwd": "/private", "user": {"uid": 1000, "gid": 1000}})
    os.makedirs(b.rootfs_path("private"), exist_ok=True)
    os.chmod(b.rootfs_path("private"), 0o700)
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["/private", "1000", "denied"]


def test_cwd_that_is_a_file_is_an_error_naming_it(rt, cid, make_bundle):
    b = make_bundle(["true"], process={"cwd": "/etc/passwd"})
    r = rt.run(cid, b)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process.cwd" in r.err and "/etc/passwd" in r.err, r


def test_exec_cwd_the_user_cannot_enter(rt, cid, make_bundle):
    b = make_bundle(["sleep", "100"])
    os.makedirs(b.rootfs_path("private"), exist_ok=True)
    os.chmod(b.rootfs_path("private"), 0o700)
    r = rt.run(cid, b, detach=True)
    assert r.rc == 0, r
    r = rt.cmd("exec", "--user", "1000:1000", "--cwd", "/private", cid, "sh", "-c", "pwd; id -u", timeout=30)
    assert r.rc == 0, r
    assert r.out.split() == ["/private", "1000"]


# -- linux.sysctl against hostname/domainname ----------------------------------------

def _pyrunc_only(rt):
    if rt.name != "pyrunc":
        pytest.skip("runc 1.1.5 refuses kernel.hostname/kernel.domainname even when they agree")


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_sysctl_contradicting_a_name_field_is_refused_before_anything_is_made(rt, cid, make_bundle, field):
    _pyrunc_only(rt)
    b = make_bundle(["true"], **{field: "given-name"}, linux={"sysctl": {f"kernel.{field}": "other-name"}})
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert f"kernel.{field}" in r.err and f"contradicts {field}" in r.err, r
    assert not os.path.exists(os.path.join(rt.root, cid)), "state dir left behind"
    c = rt.cmd("check", "--bundle", b.path, root=False)
    assert c.rc != 0 and f"kernel.{field}" in c.out + c.err, c


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_sysctl_agreeing_with_a_name_field_is_set(rt, cid, make_bundle, field):
    _pyrunc_only(rt)
    b = make_bundle(shell(f"cat /proc/sys/kernel/{field}"), **{field: "same-name"},
                    linux={"sysctl": {f"kernel.{field}": "same-name"}})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "same-name"


# -- a config without process (optional in the spec) ---------------------------------

def _no_process_bundle(make_bundle):
    b = make_bundle(write=False)
    del b.config["process"]
    return b.write()


def test_create_without_process_holds_namespaces_and_start_refuses(rt, cid, make_bundle):
    b = _no_process_bundle(make_bundle)
    r = rt.create(cid, b)
    assert r.rc == 0, r
    st = rt.state(cid)
    assert st["status"] == "created", st
    pid = st["pid"]
    # pid 1 of its own namespaces, waiting
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    with open(f"/proc/{pid}/status") as f:
        assert "NSpid:" in f.read()
    r = rt.start(cid)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process" in r.err and "nothing to start" in r.err, r
    assert rt.state(cid)["status"] == "created", "a refused start changed the container"
    r = rt.delete(cid)
    assert r.rc == 0, r
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_run_without_process_fails_and_leaves_nothing(rt, cid, make_bundle):
    b = _no_process_bundle(make_bundle)
    r = rt.run(cid, b)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "process" in r.err and "nothing to start" in r.err, r
    assert rt.status(cid) is None
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_check_accepts_a_config_without_process(rt, make_bundle):
    if rt.name != "pyrunc":
        pytest.skip("pyrunc check")
    b = _no_process_bundle(make_bundle)
    r = rt.cmd("check", "--bundle", b.path, root=False)
    assert r.rc == 0, r
