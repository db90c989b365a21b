"""process.*: args, env, cwd, user, umask, rlimits, oomScoreAdj, caps, stdio."""

import os

import pytest

from conformance.bundle import CAPS, cap_bits
from util import checker, checker_args, report_of, sh_out, shell, wait_file


def test_args_exact(rt, cid, make_bundle):
    b = make_bundle(["/bin/sh", "-c", 'for a in "$@"; do echo "[$a]"; done',
                     "argv0", "one", "two words", "", "*"])
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.splitlines() == ["[one]", "[two words]", "[]", "[*]"]


def test_args_resolved_through_container_path(rt, cid, make_bundle):
    b = make_bundle(["echo", "via-path"])
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "via-path"


def test_args0_is_argv0(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle, "cat /proc/self/cmdline | tr '\\0' ' '")
    assert out.strip() == "cat /proc/self/cmdline"


def test_env_exact(rt, cid, make_bundle):
    env = ["PATH=/bin:/usr/bin", "FOO=bar", "EMPTY=", "SPACES=a b  c",
           "EQ=x=y"]
    rep = checker(rt, cid, make_bundle, "env", process={"env": env})
    got = rep.env()
    for e in env:
        k, _, v = e.partition("=")
        assert got.get(k) == v, (k, got)
    # nothing from the caller's environment leaks in
    assert "PYTEST_CURRENT_TEST" not in got
    assert set(got) - {k.split("=")[0] for k in env} <= {
        "HOME", "PYRUNC_TEST_TAG", "TERM", "HOSTNAME", "container"}, got


def test_cwd(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id", process={"cwd": "/home/user"})
    assert rep["cwd"] == "/home/user"


def test_cwd_created_if_missing(rt, cid, make_bundle):
    b = make_bundle(checker_args("id"), process={"cwd": "/new/work/dir"},
                    root={"readonly": False})
    rep = report_of(rt, cid, b)
    assert rep["cwd"] == "/new/work/dir"


def test_default_user_root(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id")
    assert (rep["uid"], rep["euid"], rep["gid"], rep["egid"]) == \
        ("0", "0", "0", "0")


def test_user_uid_gid_additional_gids(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id", process={
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [100, 2000]}})
    for k in ("uid", "euid", "suid", "fsuid"):
        assert rep[k] == "1000", (k, rep.text)
    for k in ("gid", "egid", "sgid", "fsgid"):
        assert rep[k] == "1000", (k, rep.text)
    assert {100, 2000} <= rep.groups()
    assert 0 not in rep.groups(), "root's supplementary groups leaked"


def test_user_without_additional_gids_has_no_root_groups(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id",
                  process={"user": {"uid": 65534, "gid": 65534}})
    assert rep["uid"] == "65534" and rep["gid"] == "65534"
    assert 0 not in rep.groups()


def test_user_not_in_passwd(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id",
                  process={"user": {"uid": 4242, "gid": 4343}})
    assert rep["uid"] == "4242" and rep["gid"] == "4343"


@pytest.mark.parametrize("umask,expect", [(0o22, "0022"), (0o77, "0077"),
                                          (0, "0000")])
def test_umask(rt, cid, make_bundle, umask, expect):
    rep = checker(rt, cid, make_bundle, "id",
                  process={"user": {"uid": 0, "gid": 0, "umask": umask}})
    assert rep["umask"] == expect


def test_umask_applies_to_new_files(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle, "touch /tmp/f; stat -c %a /tmp/f",
                 process={"user": {"uid": 0, "gid": 0, "umask": 0o27}},
                 root={"readonly": False})
    assert out.strip() == "640"


def test_rlimits(rt, cid, make_bundle):
    rl = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
          {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
          {"type": "RLIMIT_CORE", "soft": 0, "hard": 1048576},
          {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608}]
    rep = checker(rt, cid, make_bundle, "limits", process={"rlimits": rl})
    lim = rep.limits()
    assert lim["RLIMIT_NOFILE"] == ("512", "768")
    assert lim["RLIMIT_NPROC"] == ("300", "400")
    assert lim["RLIMIT_CORE"] == ("0", "1048576")
    assert lim["RLIMIT_STACK"] == ("4194304", "8388608")


def test_rlimits_of_2_63_and_more_are_unlimited(rt, cid, make_bundle):
    """The spec's rlimits are uint64; setrlimit(2) takes them all, Python's a C long: a
    limit of 2^63 or more is no limit (RLIM_INFINITY is 2^64-1), never an internal error."""
    rl = [{"type": "RLIMIT_CORE", "soft": 0, "hard": 2**63},
          {"type": "RLIMIT_FSIZE", "soft": 2**63 + 5, "hard": 2**64 - 1}]
    rep = checker(rt, cid, make_bundle, "limits", process={"rlimits": rl})
    lim = rep.limits()
    assert lim["RLIMIT_CORE"][0] == "0" and lim["RLIMIT_CORE"][1] in ("unlimited", str(2**63)), lim
    assert lim["RLIMIT_FSIZE"][0] in ("unlimited", str(2**63 + 5)), lim


def test_rlimit_enforced(rt, cid, make_bundle):
    # with NOFILE 8 the shell cannot open fd 8 and above
    out = sh_out(rt, cid, make_bundle,
                 "exec 7</dev/null && echo seven; "
                 "(exec 9</dev/null) 2>/dev/null && echo nine || echo no-nine",
                 process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 8,
                                       "hard": 8}]})
    assert out.split() == ["seven", "no-nine"]


@pytest.mark.parametrize("adj", [0, 200, 1000])
def test_oom_score_adj(rt, cid, make_bundle, adj):
    rep = checker(rt, cid, make_bundle, "oom", process={"oomScoreAdj": adj})
    assert rep["oom_score_adj"] == str(adj)


def test_no_new_privileges(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "caps",
                  process={"noNewPrivileges": True})
    assert rep["NoNewPrivs"] == "1"
    rep = checker(rt, cid + "b", make_bundle, "caps",
                  process={"noNewPrivileges": False})
    assert rep["NoNewPrivs"] == "0"


def test_default_capabilities(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "caps")
    want = cap_bits(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert rep.cap("CapBnd") == want
    assert rep.cap("CapEff") == want
    assert rep.cap("CapPrm") == want


def test_capability_sets_separately(rt, cid, make_bundle):
    caps = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID",
                     "CAP_SYS_ADMIN"],
        # root's effective set is its permitted set after exec
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_KILL"],
    }
    rep = checker(rt, cid, make_bundle, "caps",
                  process={"capabilities": caps})
    assert rep.cap("CapBnd") == cap_bits(caps["bounding"])
    assert rep.cap("CapPrm") == cap_bits(caps["permitted"])
    assert rep.cap("CapEff") == cap_bits(caps["effective"])
    assert rep.cap("CapInh") == cap_bits(caps["inheritable"])
    assert rep.cap("CapAmb") == cap_bits(caps["ambient"])


def test_capabilities_for_non_root_user_via_ambient(rt, cid, make_bundle):
    caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    rep = checker(rt, cid, make_bundle, "caps", "id", process={
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {k: caps for k in ("bounding", "permitted",
                                           "effective", "inheritable",
                                           "ambient")}})
    assert rep["uid"] == "1000"
    assert rep.cap("CapEff") == cap_bits(caps)
    assert rep.cap("CapAmb") == cap_bits(caps)


def test_non_root_user_without_ambient_has_no_caps(rt, cid, make_bundle):
    caps = ["CAP_NET_BIND_SERVICE"]
    rep = checker(rt, cid, make_bundle, "caps", process={
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {"bounding": caps, "permitted": caps,
                         "effective": caps}})
    assert rep.cap("CapEff") == cap_bits(caps) or rep.cap("CapEff") == 0
    assert rep.cap("CapBnd") == cap_bits(caps)


def test_no_capabilities(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "caps", process={"capabilities": {
        "bounding": [], "permitted": [], "effective": [], "inheritable": [],
        "ambient": []}})
    for k in ("CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"):
        assert rep.cap(k) == 0, k


def test_dropped_capability_is_enforced(rt, cid, make_bundle):
    # without CAP_CHOWN root cannot chown a file it does not own... and
    # without CAP_DAC_OVERRIDE it cannot read a 000 file of another user
    out = sh_out(rt, cid, make_bundle,
                 "echo s > /tmp/f; chmod 000 /tmp/f; chown 1000 /tmp/f; "
                 "cat /tmp/f 2>/dev/null && echo readable || echo denied; "
                 "chown 0 /tmp/f 2>/dev/null && echo chowned || echo nochown",
                 root={"readonly": False},
                 process={"capabilities": {
                     "bounding": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"],
                     "effective": ["CAP_CHOWN"]}})
    assert out.split() == ["denied", "chowned"]


def _host_bounding() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def test_all_capabilities_the_host_has(rt, cid, make_bundle):
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    bnd = _host_bounding()
    names = [n for n, bit in CAPS.items() if bit <= last and bnd >> bit & 1]
    rep = checker(rt, cid, make_bundle, "caps", process={"capabilities": {
        "bounding": names, "permitted": names, "effective": names}})
    assert rep.cap("CapBnd") == cap_bits(names)
    assert rep.cap("CapEff") == cap_bits(names)


def test_stdin_is_dev_null_when_detached_create(rt, cid, make_bundle, tdir):
    """create's stdio is inherited by the container (terminal: false)."""
    out_path = os.path.join(tdir, "out")
    b = make_bundle(shell("echo to-stdout; echo to-stderr >&2"))
    r = rt.create(cid, b, stdout_path=out_path)
    assert r.rc == 0, r
    assert rt.start(cid).rc == 0
    assert rt.wait_status(cid, "stopped") == "stopped"
    assert "to-stdout" in open(out_path).read()


def test_exit_code_of_process(rt, cid, make_bundle):
    r = rt.run(cid, make_bundle(["false"]))
    assert r.rc == 1, r


def test_pid_one_in_new_pid_ns(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "id", "proc")
    assert rep["pid"] == "1"
    assert rep["cmdline1"].startswith("/bin/sh " + "/bin/pyrunc-checker")


def test_home_env_defaults_from_passwd(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "env",
                  process={"user": {"uid": 1000, "gid": 1000}})
    # runc sets HOME from /etc/passwd when the config does not
    assert rep.env().get("HOME") == "/home/user"


def test_home_env_explicit_wins(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "env",
                  process={"env": ["PATH=/bin", "HOME=/elsewhere"]})
    assert rep.env()["HOME"] == "/elsewhere"


def test_the_program_is_alone_in_its_pid_namespace(rt, new_cid, make_bundle):
    """create leaves the unmapping of its child's memory to a task that pyrunc-init
    reaps before anything else: the container's program (pid 1) sees no other
    process, right after run and after a create and a start."""
    listing = ["sh", "-c", "for p in /proc/[0-9]*; do echo ${p#/proc/}; done"]
    cid = new_cid()
    rt.track(cid)
    r = rt.run(cid, make_bundle(listing))
    assert r.rc == 0 and r.out.split() == ["1"], r
    cid = new_cid()
    rt.track(cid)
    b = make_bundle(["sh", "-c", "for p in /proc/[0-9]*; do echo ${p#/proc/}; done > /out.tmp; "
                                 "mv /out.tmp /out; sleep 1000"], root={"path": "rootfs", "readonly": False})
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    assert wait_file(os.path.join(b.rootfs, "out")).split() == ["1"]
    assert rt.delete(cid, force=True).rc == 0


def test_unit_exec_init_failure_leaves_no_task():
    """pyrunc_exec_init returns only when the exec fails: -1 with errno, and the task
    it made to unmap the memory is gone (waited for) by then."""
    from runtime._native import ffi, lib

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if lib.pyrunc_exec_init(-1, b"pyrunc-init", b"3") == -1 and ffi.errno == 9:  # EBADF
                try:
                    os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    code = 0  # no child left
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
