"""Property tests: hypothesis draws process and uts configs, a real container runs
each, and the checker inside must see exactly what the config asked for."""
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from util import checker_args, report_of

hostnames = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=63).filter(
    lambda h: not h.startswith("-"))
env_keys = st.text(string.ascii_uppercase + "_", min_size=1, max_size=12).filter(
    lambda k: k not in ("PATH", "HOME", "TERM", "HOSTNAME", "PWD", "SHLVL"))
env_values = st.text(string.ascii_letters + string.digits + " ./:-_=,@%+", max_size=40)
ids = st.integers(min_value=0, max_value=65534)
users = st.fixed_dictionaries({
    "uid": ids, "gid": ids,
    "umask": st.integers(min_value=0, max_value=0o777),
    "additionalGids": st.lists(ids, max_size=5, unique=True),
})


@st.composite
def nofile(draw):
    hard = draw(st.integers(min_value=64, max_value=1024))  # the checker shell needs some fds
    return {"type": "RLIMIT_NOFILE", "soft": draw(st.integers(min_value=64, max_value=hard)), "hard": hard}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostname=hostnames, env=st.dictionaries(env_keys, env_values, max_size=6), user=users,
       rlimit=nofile())
def test_container_sees_what_the_config_says(rt, new_cid, make_bundle, hostname, env, user, rlimit):
    b = make_bundle(checker_args("id", "uts", "env", "limits"), write=False)
    b.config["hostname"] = hostname
    proc = b.config["process"]
    proc["env"] = proc["env"] + [f"{k}={v}" for k, v in env.items()]
    proc["user"] = dict(user)
    proc["rlimits"] = [rlimit]
    b.write()
    rep = report_of(rt, new_cid(), b)

    assert rep["hostname"] == hostname
    seen = rep.env()
    for k, v in env.items():
        assert seen.get(k) == v, (k, v, seen)
    for key in ("uid", "euid", "suid", "fsuid"):
        assert int(rep[key]) == user["uid"]
    for key in ("gid", "egid", "sgid", "fsgid"):
        assert int(rep[key]) == user["gid"]
    assert rep.groups() == set(user["additionalGids"])
    assert int(rep["umask"], 8) == user["umask"]
    assert rep.limits()["RLIMIT_NOFILE"] == (str(rlimit["soft"]), str(rlimit["hard"]))
