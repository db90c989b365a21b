"""Hostile configs, generated: every one is answered with a named error or runs, and
nothing is left behind.

A hypothesis suite builds configs around the schema — valid ones, near-valid ones,
type-confused, huge, deep, with NUL bytes, lone surrogates and non-UTF-8 bytes,
duplicate rlimits, negative sizes, absurd paths, broken JSON text — and runs `create`
and `delete --force` on each with the runtime under test.  For each: no traceback, no
"internal error", every error line names a field (`<json.path>: ...` or
`config.json: line L column C: ...`), no state dir or cgroup left (the leak guard
checks processes, mounts and cgroups at the end).  What create refuses before making
anything (seen through the runtime's step trace), `check` refuses too: its "ok" is a
promise.

PYRUNC_FUZZ_EXAMPLES (default 1000) sets the number of generated examples.  In CI
(CI=true) the examples are derandomized, the same every run, so that a submission's CI
fails only for what it changed; elsewhere (or with PYRUNC_FUZZ_RANDOM=1) each run
explores new ones — run it so, with more examples, to look for new bugs.  Only
cgroup paths below the test's own token are generated, and no namespace paths or host
bind mounts: a generated config must not be able to touch the host if it runs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import bundle as cb
from runtime import check as rcheck
from tests.util import assert_error

pytestmark = pytest.mark.pyrunc_only

EXAMPLES = int(os.environ.get("PYRUNC_FUZZ_EXAMPLES", "1000"))
DERANDOMIZE = os.environ.get("CI") == "true" and os.environ.get("PYRUNC_FUZZ_RANDOM") != "1"

_SEG = r'(?:\.[A-Za-z_]\w*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\.\.\.| \([^)]*\))'
FIELD_RE = re.compile(r'^(?:config\.json|\(root\)|(?:[A-Za-z_]\w*|\["(?:[^"\\]|\\.)*"\])' + _SEG + r'*): \S')


def named(line):
    return bool(FIELD_RE.match(line))


# --------------------------------------------------------------------------
# strategies

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**66, max_value=2**66)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
values = st.recursive(scalars, lambda ch: st.lists(ch, max_size=3)
                      | st.dictionaries(st.text(max_size=6), ch, max_size=3), max_leaves=8)
hostile_text = st.one_of(
    st.sampled_from(["a\0b", "\0", "/\0", "\ud800", "x\udfffy", "\udc80", "/tmp/\ud83d", "\ufeff", "\x7f\x01"]),
    st.text(st.characters(blacklist_categories=()), min_size=1, max_size=8),
)
absurd_paths = st.sampled_from([
    "", "/", "..", "../../..", "/..", "/../../..", "relative", "./x", "/a/../../..", "//", "/./.",
    "/" * 5000, "/a" * 3000, "/proc/sys/kernel/x", "/dev/null", "/sys/../proc", "~", " ",
    "/nonexistent/deep/path", "a" * 300, "/" + "b" * 300,
])
neg = st.sampled_from([-1, -2, -5, -(2**63), -(2**64), 0, 2**63, 2**64, 2**64 + 1])


def _nodes(obj, path=()):
    """Every (path, value) in a JSON document."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nodes(v, path + (i,))


def _set(obj, path, value):
    if not path:
        return value
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return obj


def _deep(depth, kind):
    v = "x"
    for _ in range(depth):
        v = [v] if kind == "list" else {"k": v}
    return v


def m_valid(draw, cfg, tok):
    what = draw(st.sampled_from(["hostname", "env", "annotations", "bigannotations", "cwd", "rlimit"]))
    if what == "hostname":
        cfg["hostname"] = draw(st.text("abcxyz-.0123", min_size=1, max_size=20))
    elif what == "env":
        cfg["process"]["env"].append(draw(st.from_regex(r"[A-Z_]{1,8}=[ -~]{0,20}", fullmatch=True)))
    elif what == "annotations":
        cfg["annotations"] = draw(st.dictionaries(st.text("abc./-", min_size=1, max_size=10),
                                                  st.text(max_size=30).filter(lambda s: "\0" not in s and s.isascii()),
                                                  max_size=5))
    elif what == "bigannotations":  # ~1 MB: what engines may pass (Kubernetes allows 256 KiB)
        cfg["annotations"] = {f"io.example/{i}": "v" * 1000 for i in range(draw(st.sampled_from([300, 1000])))}
    elif what == "cwd":
        cfg["process"]["cwd"] = draw(st.sampled_from(["/tmp", "/new/dir", "/", "/bin"]))
    else:
        cfg["process"]["rlimits"].append({"type": "RLIMIT_CORE", "soft": 0, "hard": draw(st.integers(0, 1 << 20))})


def m_type_confuse(draw, cfg, tok):
    paths = [p for p, _ in _nodes(cfg) if p and not _touches_host(p)]
    path = draw(st.sampled_from(paths))
    _set(cfg, path, draw(values))


def _touches_host(path):
    # generated values never reach namespace paths, mount sources, cgroup paths or hooks
    return ("namespaces" in path and path[-1:] == ("path",)) or "source" in path or "cgroupsPath" in path


def m_hostile_string(draw, cfg, tok):
    strings = [p for p, v in _nodes(cfg) if isinstance(v, str)]
    keys = [p for p, v in _nodes(cfg) if isinstance(v, dict) and v]
    if keys and draw(st.booleans()):
        path = draw(st.sampled_from(keys))
        target = cfg
        for p in path:
            target = target[p]
        target[draw(hostile_text)] = draw(st.sampled_from(["v", 1, [], {}]))
    else:
        path = draw(st.sampled_from(strings))
        _set(cfg, path, draw(hostile_text))


def m_huge(draw, cfg, tok):
    n = draw(st.sampled_from([4097, 131072, 300000, 2 << 20]))
    where = draw(st.sampled_from(["arg", "env", "hostname", "annotation", "mounts", "masked", "cwd"]))
    if where == "arg":
        cfg["process"]["args"].append("a" * n)
    elif where == "env":
        cfg["process"]["env"].append("A=" + "b" * n)
    elif where == "hostname":
        cfg["hostname"] = "h" * n
    elif where == "annotation":
        cfg["annotations"] = {"k": "v" * n}
    elif where == "mounts":
        k = draw(st.sampled_from([100, 5000]))
        cfg["mounts"] += [{"destination": f"/mnt/{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(k)]
    elif where == "masked":
        cfg["linux"]["maskedPaths"] = ["/m" + str(i) for i in range(draw(st.sampled_from([500, 5000])))]
    else:
        cfg["process"]["cwd"] = "/" + "c" * n


def m_deep(draw, cfg, tok):
    depth = draw(st.sampled_from([20, 63, 64, 65, 200, 900]))  # deeper: corrupt() writes it as text
    kind = draw(st.sampled_from(["list", "dict"]))
    where = draw(st.sampled_from([("annotations",), ("linux", "resources"), ("x-extension",), ("process", "args")]))
    _set(cfg, where, _deep(depth, kind))


def m_rlimits(draw, cfg, tok):
    rl = {"type": draw(st.sampled_from(["RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_BOGUS", "rlimit_nofile"])),
          "soft": draw(neg | st.integers(0, 5000)), "hard": draw(neg | st.integers(0, 5000))}
    cfg["process"]["rlimits"] += [rl] * draw(st.integers(1, 3))


def m_negative(draw, cfg, tok):
    res = cfg["linux"]["resources"]
    what = draw(st.sampled_from(["memory", "swap", "quota", "period", "pids", "shares", "console", "tmpfs",
                                 "blkio", "hugepage", "umask", "oom"]))
    v = draw(neg)
    if what == "memory":
        res["memory"] = {"limit": v}
    elif what == "swap":
        res["memory"] = {"limit": 1 << 26, "swap": v}
    elif what == "quota":
        res["cpu"] = {"quota": v}
    elif what == "period":
        res["cpu"] = {"period": v}
    elif what == "pids":
        res["pids"] = {"limit": v}
    elif what == "shares":
        res["cpu"] = {"shares": v}
    elif what == "console":
        cfg["process"]["consoleSize"] = {"height": v, "width": v}
    elif what == "tmpfs":
        cfg["mounts"][1]["options"] = ["size=" + str(v)]
    elif what == "blkio":
        res["blockIO"] = {"weight": v}
    elif what == "hugepage":
        res["hugepageLimits"] = [{"pageSize": "2MB", "limit": v}]
    elif what == "umask":
        cfg["process"]["user"]["umask"] = v
    else:
        cfg["process"]["oomScoreAdj"] = v


def m_paths(draw, cfg, tok):
    p = draw(absurd_paths)
    where = draw(st.sampled_from(["root", "cwd", "mount", "masked", "readonly", "device", "hook", "cgroup",
                                  "arg0"]))
    if where == "root":
        cfg["root"]["path"] = p
    elif where == "cwd":
        cfg["process"]["cwd"] = p
    elif where == "mount":
        cfg["mounts"].append({"destination": p, "type": "tmpfs", "source": "tmpfs"})
    elif where == "masked":
        cfg["linux"]["maskedPaths"].append(p)
    elif where == "readonly":
        cfg["linux"]["readonlyPaths"].append(p)
    elif where == "device":
        cfg["linux"]["devices"] = [{"path": p, "type": "c", "major": 1, "minor": 3}]
    elif where == "hook":
        cfg["hooks"] = {draw(st.sampled_from(["prestart", "createRuntime", "poststop", "poststart"])):
                        [{"path": draw(st.sampled_from([p, "/bin/true", "/nonexistent", "/bin/tr\0ue"]))}]}
    elif where == "arg0":
        cfg["process"]["args"] = [p]
    else:
        # only below the test's own token: a generated config must not join a host cgroup
        base = f"/pytest-{tok}-cg"
        cfg["linux"]["cgroupsPath"] = draw(st.sampled_from([
            "/", "", base, base + "/a/b", base + "/" + "a/" * 3000, base + "/" + "x" * 300,
            base + "/../..", base + "/../../..", "../..", "../" + base[1:], base + "/\0", base + "/.",
        ]))


def m_sysctl(draw, cfg, tok):
    keys = st.sampled_from(["net.ipv4.ip_forward", "net/ipv4/ip_forward", "net..ipv4", "net.ipv4.../x",
                            "/net/ipv4/ip_forward", "kernel.domainname", "kernel.shmmax", "vm.swappiness",
                            "net.bogus.name", "", ".", "net.ipv4.conf.all.forwarding"])
    cfg["linux"]["sysctl"] = draw(st.dictionaries(keys, st.sampled_from(["1", "0", "abc", "", "-1"]), max_size=3))


def m_seccomp(draw, cfg, tok):
    names = st.sampled_from(["read", "write", "mkdir", "bogus_syscall", "", "openat", "clone3"])
    actions = st.sampled_from(["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "SCMP_ACT_NOTIFY",
                               "SCMP_ACT_LOG", "SCMP_ACT_FOO"])
    rule = st.fixed_dictionaries({"names": st.lists(names, min_size=0, max_size=3), "action": actions},
                                 optional={"args": st.lists(st.fixed_dictionaries({
                                     "index": st.integers(-1, 7), "value": st.integers(0, 2**64),
                                     "op": st.sampled_from(["SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_X"])}),
                                     max_size=2),
                                     "errnoRet": st.integers(-1, 5000)})
    cfg["linux"]["seccomp"] = {"defaultAction": draw(actions), "syscalls": draw(st.lists(rule, max_size=4))}
    if draw(st.booleans()):
        cfg["linux"]["seccomp"]["architectures"] = draw(st.lists(st.sampled_from(
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_PPC", "SCMP_ARCH_NOPE"]), max_size=3))


def m_namespaces(draw, cfg, tok):
    ns = cfg["linux"]["namespaces"]
    what = draw(st.sampled_from(["dup", "unknown", "drop", "user"]))
    if what == "dup":
        ns.append(dict(draw(st.sampled_from(ns))))
    elif what == "unknown":
        ns.append({"type": draw(st.sampled_from(["bogus", "net", "", "USER"]))})
    elif what == "drop":
        del ns[draw(st.integers(0, len(ns) - 1))]
    else:
        ns.append({"type": "user"})
        if draw(st.booleans()):
            m = [{"containerID": 0, "hostID": draw(st.sampled_from([100000, 2**32 - 1, -1, 2**32])),
                  "size": draw(st.sampled_from([1, 65536, 0, 2**32]))}]
            cfg["linux"]["uidMappings"] = m
            cfg["linux"]["gidMappings"] = copy.deepcopy(m)


def m_user(draw, cfg, tok):
    ids = st.sampled_from([0, 1000, 65534, -1, 4294967295, 4294967294, 2**32, 2**63])
    cfg["process"]["user"] = {"uid": draw(ids), "gid": draw(ids)}
    if draw(st.booleans()):
        cfg["process"]["user"]["additionalGids"] = draw(st.lists(ids, max_size=3))


def m_caps(draw, cfg, tok):
    caps = cfg["process"]["capabilities"]
    caps[draw(st.sampled_from(sorted(caps)))] = draw(st.lists(st.sampled_from(
        ["CAP_CHOWN", "CAP_BOGUS", "cap_chown", "", "CAP_SYS_RESOURCE", "CAP_NET_RAW"]), max_size=3))


MUTATIONS = [m_valid, m_type_confuse, m_hostile_string, m_huge, m_deep, m_rlimits, m_negative, m_paths,
             m_sysctl, m_seccomp, m_namespaces, m_user, m_caps]
# Drawn twice as often: what is refused before the schema runs (the schema's error path
# imports jsonschema, ~150 ms of CPU per example) or gets as far as a container.
CHEAP = [m_valid, m_hostile_string, m_huge, m_deep, m_paths, m_sysctl]


def _dump(cfg):
    """JSON text; lone surrogates are written as \\u escapes (json.dumps does)."""
    return json.dumps(cfg, ensure_ascii=True, allow_nan=False)


def corrupt(draw, text):
    """Broken JSON text: what a hand-edited or truncated config.json looks like."""
    how = draw(st.sampled_from(["trailing-comma", "truncate", "bad-byte", "bom", "nan", "dup-key",
                                "deep-text", "empty", "garbage", "not-object"]))
    if how == "trailing-comma":
        return text[:-1] + ",}"
    if how == "truncate":
        return text[:draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "bad-byte":
        i = draw(st.integers(0, len(text)))
        return text[:i].encode() + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + \
            text[i:].encode()
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if how == "nan":
        return text[:-1] + ', "x": NaN}'
    if how == "dup-key":
        return text[:-1] + ', "ociVersion": 5}'
    if how == "deep-text":
        n = draw(st.sampled_from([100, 1000, 100000]))
        return text[:-1] + ', "x": ' + "[" * n + "]" * n + "}"
    if how == "empty":
        return ""
    if how == "not-object":
        return draw(st.sampled_from(["[]", "1", '"x"', "null"]))
    return draw(st.binary(max_size=40))


# --------------------------------------------------------------------------
# the suite

class Stats:
    def __init__(self):
        self.n = self.created = self.refused = self.before_fork = 0
        self.t_created = self.t_refused = 0.0


@pytest.fixture(scope="module")
def stats():
    s = Stats()
    yield s
    print(f"\nfuzz: {s.n} examples, {s.created} created ({s.t_created:.1f} s), {s.refused} refused "
          f"({s.t_refused:.1f} s; {s.before_fork} before anything was made)")


def _cgroup_leaf_exists(cid):
    for h in os.listdir("/sys/fs/cgroup"):
        if os.path.exists(os.path.join("/sys/fs/cgroup", h, "pyrunc", cid)):
            return True
    return False


def test_fuzz_configs(rt, make_bundle, token, tdir, stats):
    b = make_bundle(["true"])
    base = copy.deepcopy(b.config)
    counter = [0]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        draw = data.draw
        counter[0] += 1
        cid = f"fz-{token}-{counter[0]}"
        cfg = copy.deepcopy(base)
        for m in draw(st.lists(st.sampled_from(MUTATIONS + CHEAP), min_size=0, max_size=3)):
            try:
                m(draw, cfg, token)
            except (TypeError, AttributeError, KeyError, IndexError, ValueError):
                pass  # an earlier mutation changed the shape this one expects
        text = _dump(cfg)
        if draw(st.integers(0, 9)) == 0:
            text = corrupt(draw, text)
        raw = text if isinstance(text, bytes) else text.encode()
        with open(os.path.join(b.path, "config.json"), "wb") as f:
            f.write(raw)
        trace = os.path.join(tdir, "trace")
        if os.path.exists(trace):
            os.unlink(trace)
        env = dict(os.environ, PYRUNC_TEST_STOP_AT="trace", PYRUNC_TEST_STOP_FILE=trace)
        t0 = time.monotonic()
        r = rt.create(cid, b, env=env, timeout=60)
        stats.n += 1
        out = r.out + r.err
        assert "Traceback" not in out, out
        assert "internal error" not in out, out
        if r.rc != 0:
            stats.refused += 1
            errors = [line[len("pyrunc: "):] for line in r.err.splitlines() if line.startswith("pyrunc: ")]
            assert errors, f"create failed without an error line: {r}"
            for line in errors:
                assert named(line), f"error does not name a field: {line!r}"
            assert not os.path.exists(os.path.join(rt.root, cid)), f"failed create left its state dir: {r}"
            try:
                with open(trace) as f:
                    steps = {line.split()[0] for line in f if line.strip()}
            except FileNotFoundError:
                steps = set()
            if "create-state-dir" not in steps:
                # refused before anything was made: check must refuse it too
                stats.before_fork += 1
                problems = rcheck.check_bundle(b.path)
                assert problems, f"check says ok, create refused it: {errors[0]}"
                assert all(named(p) for p in problems), problems
        else:
            stats.created += 1
        d = rt.delete(cid, force=True, timeout=60)
        assert d.rc == 0 and "Traceback" not in d.err and "internal error" not in d.err, d
        assert not os.path.exists(os.path.join(rt.root, cid)), "delete --force left the state dir"
        assert not _cgroup_leaf_exists(cid), "delete --force left cgroups"
        if r.rc == 0:
            stats.t_created += time.monotonic() - t0
        else:
            stats.t_refused += time.monotonic() - t0

    one()


# --------------------------------------------------------------------------
# the cases of the issue, each by name

def _create_and_check(rt, cid, b):
    r = rt.create(cid, b)
    problems = rcheck.check_bundle(b.path)
    return r, problems


@pytest.mark.parametrize("mutate,want", [
    (lambda c: c["linux"].update(cgroupsPath="/"), "linux.cgroupsPath: refusing to use the root cgroup"),
    (lambda c: c["linux"]["resources"].update(cpu={"quota": -5}), "linux.resources.cpu.quota: "),
    (lambda c: c["linux"].update(sysctl={"net/../kernel/x": "1"}), 'linux.sysctl["net/../kernel/x"]: '),
    (lambda c: c["linux"].update(cgroupsPath="/x/" + "a/" * 3000), "linux.cgroupsPath: "),
    (lambda c: c["process"]["env"].append("A=\ud800"), "process.env[2]: is not valid Unicode"),
    (lambda c: c["process"]["args"].append("a\0b"), "process.args[1]: contains a NUL byte"),
    (lambda c: c.update(hooks={"poststop": [{"path": "/bin/tr\0ue"}]}), "hooks.poststop[0].path: contains a NUL"),
    (lambda c: c["mounts"][0].update(options=["a\0"]), "mounts[0] (/proc).options[0]: contains a NUL byte"),
    (lambda c: c.update(x=_deep(500, "list")), "x[0][0][0]...: nested deeper than the limit of 64 levels"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["write"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
     "linux.seccomp.syscalls[3].args[0].index: "),
], ids=["cgroup-root", "quota", "sysctl-dotdot", "cgroup-deep", "surrogate", "nul-arg", "nul-hook", "nul-option",
        "deep", "seccomp-rule"])
def test_named_refusals_shared_by_check_and_create(rt, make_bundle, cid, mutate, want):
    b = make_bundle(["true"], write=False)
    mutate(b.config)
    b.write()
    r, problems = _create_and_check(rt, cid, b)
    assert_error(r, rt)
    first = r.err.strip().splitlines()[0]
    assert first.startswith("pyrunc: " + want), r.err
    assert problems and problems[0].startswith(want.split(":")[0]), problems
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_invalid_json_names_line_and_column(rt, make_bundle, cid):
    b = make_bundle(["true"])
    text = json.dumps(b.config, indent=1)
    b.write_raw(text[:-2] + ",\n}")
    r, problems = _create_and_check(rt, cid, b)
    assert_error(r, rt)
    lines = text.count("\n") + 1
    assert re.fullmatch(r"pyrunc: config\.json: line %d column 1: expecting property name enclosed in "
                        r"double quotes" % lines, r.err.strip()), r.err
    assert problems == [r.err.strip()[len("pyrunc: "):]]
    with open(os.path.join(b.path, "config.json"), "wb") as f:
        f.write(b'{"ociVersion": "1.0.2",\n "x": "\xff"}')
    r = rt.create(cid, b)
    assert r.err.strip() == "pyrunc: config.json: line 2 column 8: invalid UTF-8 (byte 0xff)", r.err


def test_one_megabyte_of_annotations_runs(rt, make_bundle, cid):
    """The parent<->child channel carries any size: 1 MB of annotations reach the
    hooks' state and the container runs (a datagram stops at ~208 KiB)."""
    ann = {f"io.kubernetes/{i}": "v" * 1000 for i in range(1000)}
    b = make_bundle(["true"], annotations=ann)
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert "Message too long" not in r.err
