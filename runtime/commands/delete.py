"""`delete`: remove a container and everything it holds (--force: kill it first).

delete_container is also `run`'s (through runtime/container.py).  A container whose
processes are all gone and whose cgroups are empty (the common case: an engine deletes
what has exited) is removed here, without importing runtime/container.py and the cgroups
package: one rmdir(2) per cgroup directory proves it empty (the kernel refuses to remove
a cgroup that holds a process or a child cgroup) and removes it.  Everything else, and
every leaf that refuses, goes through container.teardown, which kills what is left,
walks and removes the rest; its work from a state this fast path left half done is the
same (what is gone is not walked).  Like runtime/state.py this imports only modules
loaded at interpreter start-up.
"""
import posix

from runtime import log
from runtime.cgroupdirs import parents_after_leaves
from runtime.errors import NotFound, RuntimeFailure
from runtime.state import CREATING, PAUSED, RUNNING, STOPPED, Container, Root, test_step



def main(opts):
    try:
        c = Container.load(Root(opts.root), opts.id)
    except NotFound:
        if opts.force:
            return
        raise
    with c:
        delete_container(c, opts.force)


def delete_container(c, force):
    test_step("delete-locked")
    st = c.status()
    if st in (RUNNING, PAUSED) and not force:
        raise RuntimeFailure(f"cannot delete container {c.id} that is not stopped: {st}")
    state = c.spec_state(st)
    if not (st == STOPPED and _remove_empty(c)):
        from runtime import container

        container.teardown(c)
    test_step("delete-removed")
    if log.debugging():
        log.debug(f"delete {c.id}: was {st}; processes killed, cgroups and state removed")
    # The point of no return is behind us: from here on nothing may fail (hooks were
    # validated at create; a failing one is a warning, as runc does).
    state["status"] = STOPPED
    if not (c.data.get("hooks") or {}).get("poststop"):
        return
    try:
        from runtime import hooks

        hooks.run_all_warn(c.data, "poststop", state, log.warn)
        if log.debugging():
            log.debug(f"delete {c.id}: poststop hooks run: {len((c.data.get('hooks') or {}).get('poststop') or ())}")
    except Exception as e:
        log.warn(f"hooks.poststop: {type(e).__name__}: {e}")


def _cgroup_plan(c):
    """(leaves, created, cgroups_path) of a stopped container's cgroupfs cgroups, as
    runtime.cgroups' from_state() and Manager.destroy() see them, with the journal's
    entries merged in as container.teardown does; None for anything else (another
    driver or state version, no cgroups, a create that never finished, a journal
    with entries of another kind): those take the full teardown."""
    d = c.data
    cg = d.get("cgroups")
    if d.get("status") == CREATING or "unreadable" in d or not isinstance(cg, dict) or \
            cg.get("driver") != "cgroupfs" or cg.get("version") != 1:
        return None
    paths, mode = cg.get("paths"), cg.get("mode")
    skipped, created = cg.get("skipped") or [], cg.get("created") or []
    if not isinstance(paths, dict) or not isinstance(skipped, list) or not isinstance(created, list):
        return None
    if mode == "v2":
        paths = {"": paths.get("")}
    elif mode == "v1":
        paths = {k: v for k, v in paths.items() if k != ""}
    elif mode != "hybrid":
        return None
    leaves = []
    for sub, leaf in paths.items():
        if sub not in skipped and leaf not in leaves:
            leaves.append(leaf)
    kinds = set()
    created = list(created) + [p for p in c.journal_entries("cgroup", kinds) if p not in created]
    if kinds - {"cgroup"} or not all(isinstance(p, str) and p.startswith("/") for p in leaves + created):
        return None
    return leaves, created, cg.get("cgroups_path") or ""


def _remove_empty(c):
    """Remove a stopped container whose cgroups are all empty and ours; False (having
    at most removed some empty leaves) when it must go through container.teardown."""
    plan = _cgroup_plan(c)
    if plan is None:
        return False
    leaves, created, cgroups_path = plan
    for leaf in leaves:
        if leaf not in created:
            return False  # not ours (an engine's pre-made cgroup): walked and killed, never removed
    for leaf in leaves:
        try:
            posix.rmdir(leaf)
        except FileNotFoundError:
            pass
        except OSError:
            return False  # a process or a sub-cgroup is left in it
    test_step("delete-killed")
    for d in parents_after_leaves(leaves, created, cgroups_path):
        try:
            posix.rmdir(d)
        except OSError:
            pass  # still in use by another container: left, as Manager.destroy does
    test_step("delete-cgroups-removed")
    c.remove()
    return True
