"""Validation of OCI runtime-spec v1.3.0 config.json and state documents.

Public functions (each returns a list of problems, ``[]`` when valid):

    validate_config(config) -> list[str]
    validate_state(state) -> list[str]

Each problem is one line ``<path>: <message>`` where ``<path>`` is dotted with
list indices in brackets, e.g. ``mounts[2].destination: is required``.

How it works
------------
The JSON Schemas live in ``spec/*.json`` (copied into ``runtime/schema/`` by
the build).  The build also compiles them with fastjsonschema into the plain
Python module ``runtime/_validator.py``; that module is the fast path and only
answers "valid" or raises on the first problem.  Only when it raises (or is
missing) is jsonschema imported, to collect *every* schema error with a human
message.  After the schema passes, :func:`semantic_errors` checks what JSON
Schema cannot express but the spec (or runc, which we replace) requires, such
as duplicate rlimit types.

Importing this module is cheap: it imports nothing beyond ``runtime/ospath.py`` (not
even ``os``); the jsonschema path (the schema files, merged per document, and the
messages of jsonschema's errors) is ``runtime/schemas.py``, imported only when the fast
path finds a problem.
"""

from runtime import ospath

__all__ = [
    "validate_config",
    "input_errors",
    "limit_errors",
    "validate_state",
    "resources_errors",
    "schema_errors",
    "semantic_errors",
    "merged_schema",
    "format_path",
    "schema_dir",
]



def __getattr__(name):
    """The jsonschema path lives in runtime/schemas.py, imported only when a config is
    invalid (or a caller asks for it): its names are still reachable from here."""
    if name in ("schema_errors", "merged_schema", "schema_dir", "SCHEMA_FILES", "ROOT_FILES"):
        from runtime import schemas

        return getattr(schemas, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------
# public API


def validate_config(config):
    """Return every problem in ``config`` (a parsed config.json) as a list of
    ``"<path>: <message>"`` lines; ``[]`` when the config is valid."""
    errors = input_errors(config)
    if errors:
        return errors
    errors = _schema_check("config", config)
    if errors:
        return errors
    return semantic_errors(config) + limit_errors(config)


def validate_state(state):
    """Return every problem in a container state document (runtime.md
    "State"), one line each; ``[]`` when valid."""
    return _schema_check("state", state)


def resources_errors(resources):
    """Every schema problem in a LinuxResources object (``update
    --resources``), checked against the schema's ``linux.resources``
    definition; paths are relative to the object (``memory.limit: ...``)."""
    doc = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "linux": {"resources": resources}}
    out = []
    for line in _schema_check("config", doc):
        if line.startswith("linux.resources."):
            line = line[len("linux.resources."):]
        elif line.startswith("linux.resources:"):
            line = "resources" + line[len("linux.resources"):]
        out.append(line)
    return out


def format_path(path):
    """``["mounts", 2, "destination"]`` -> ``"mounts[2].destination"``.
    Keys that are not plain identifiers are written as ``["key"]`` (a JSON
    string: control characters and non-ASCII escaped, so the line stays one
    printable line); the empty path (the document itself) is ``(root)``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += "[%d]" % part
        elif isinstance(part, str) and _is_ident(part):
            out += ("." if out else "") + part
        else:
            out += "[%s]" % _quote(str(part))
    return out or "(root)"


def _quote(s, limit=64):
    """A JSON-quoted, ASCII-only, shortened rendering of ``s`` for messages."""
    from _json import encode_basestring_ascii

    if len(s) > limit:
        return encode_basestring_ascii(s[:limit])[:-1] + '..."'
    return encode_basestring_ascii(s)


def _is_ident(s):
    if not s or not (s[0].isalpha() or s[0] == "_"):
        return False
    return all(c.isalnum() or c == "_" for c in s) and s.isascii()


# ---------------------------------------------------------------------------
# the fast path and the jsonschema path

_fast = None  # the compiled module, False when unavailable


def _fast_module():
    global _fast
    if _fast is None:
        try:
            from . import _validator
        except ImportError:
            _fast = False
        else:
            _fast = _validator
    return _fast


def _schema_check(kind, obj):
    fast = _fast_module()
    if fast:
        try:
            getattr(fast, "validate_" + kind)(obj)
        except Exception as exc:  # any failure: let jsonschema explain it
            first = _fast_error_line(exc)
        else:
            return []
    else:
        first = None
    try:
        from runtime.schemas import schema_errors

        errors = schema_errors(obj, kind)
    except ImportError:
        errors = []
    if not errors and first:
        # the two validators disagree (an edge case of regex or number
        # handling): trust the one that found a problem
        errors = [first]
    return errors


def _fast_error_line(exc):
    name = getattr(exc, "name", None) or ""
    message = getattr(exc, "message", None) or str(exc)
    path = name[4:].lstrip(".") if name.startswith("data") else name
    if message.startswith(name):
        message = message[len(name):].strip()
    return "%s: %s" % (path or "(root)", message)


# ---------------------------------------------------------------------------
# rules JSON Schema cannot express


# IPC-namespaced sysctls (ipc_namespaces(7) and what runc accepts)
_IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
_UTS_SYSCTLS = frozenset({"kernel.hostname", "kernel.domainname"})
_ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
_MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
_MPOL_NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY")
_TIME_CLOCKS = ("boottime", "monotonic")


def semantic_errors(config):
    """Problems a schema-valid config can still have.  Each rule, by field:

    - ``ociVersion``: the major version must be 1 (the spec's compatibility
      rule: this runtime implements 1.3.0).
    - ``annotations``: keys MUST NOT be empty.
    - ``process.env[i]``: entries must have the ``KEY=value`` form.
    - ``process.rlimits[i].type``: duplicated types MUST be an error.
    - ``process.scheduler.nice``: -20 to 19.
    - ``mounts[i].options``: ``idmap``/``ridmap`` needs mount mappings or a
      user namespace (MUST error).
    - ``hostname``/``domainname``: need a ``uts`` namespace (as runc).
    - ``linux.namespaces[i].type``: duplicated types MUST be an error.
    - ``linux.uidMappings``/``linux.gidMappings``: need a ``user`` namespace;
      a new ``user`` namespace (no path) needs them (as runc).
    - ``linux.timeOffsets``: need a ``time`` namespace; keys must be
      ``boottime`` or ``monotonic``.
    - ``linux.netDevices``: need a ``network`` namespace; names must be valid
      interface names.
    - ``linux.sysctl``: ``net.*`` needs a ``network`` namespace, IPC sysctls
      an ``ipc`` namespace, ``kernel.hostname``/``kernel.domainname`` a
      ``uts`` namespace; any other sysctl is not namespaced (as runc).
    - ``linux.seccomp.defaultErrnoRet`` / ``syscalls[i].errnoRet``: only with
      SCMP_ACT_ERRNO or SCMP_ACT_TRACE (MUST error otherwise).
    - ``linux.resources.cpu.burst``: MUST NOT exceed a positive ``quota``.
    - ``linux.intelRdt.memBwSchema`` / ``schemata[i]``: MUST NOT contain
      newlines.
    - ``linux.memoryPolicy.nodes``: MPOL_DEFAULT/MPOL_LOCAL take no nodes,
      MPOL_BIND/INTERLEAVE/WEIGHTED_INTERLEAVE/PREFERRED_MANY need some.
    """
    errs = []
    add = errs.append

    version = config.get("ociVersion")
    if isinstance(version, str) and version.split(".", 1)[0] != "1":
        add("ociVersion: %s is not supported: this runtime implements 1.3.0 and accepts 1.x" % version)

    annotations = config.get("annotations")
    if isinstance(annotations, dict) and "" in annotations:
        add("annotations: keys must not be empty")

    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    namespaces = linux.get("namespaces") or []
    ns_first = {}
    for i, ns in enumerate(namespaces):
        t = ns.get("type")
        if t in ns_first:
            add("linux.namespaces[%d].type: duplicate namespace type %s (first at linux.namespaces[%d])"
                % (i, t, ns_first[t]))
        else:
            ns_first[t] = i

    def has_ns(t):
        return t in ns_first

    process = config.get("process") if isinstance(config.get("process"), dict) else {}
    for i, kv in enumerate(process.get("env") or []):
        if "=" not in kv or kv.startswith("="):
            add("process.env[%d]: must have the form KEY=value" % i)
    first = {}
    for i, rl in enumerate(process.get("rlimits") or []):
        t = rl.get("type")
        if t in first:
            add("process.rlimits[%d].type: duplicate rlimit type %s (first at process.rlimits[%d])"
                % (i, t, first[t]))
        else:
            first[t] = i
    sched = process.get("scheduler")
    if isinstance(sched, dict) and "nice" in sched and not -20 <= sched["nice"] <= 19:
        add("process.scheduler.nice: must be between -20 and 19")

    for i, m in enumerate(config.get("mounts") or []):
        opts = m.get("options") or []
        if ("idmap" in opts or "ridmap" in opts) and "uidMappings" not in m and not has_ns("user"):
            add("mounts[%d].options: idmap/ridmap needs uidMappings and gidMappings on the mount "
                "or a user namespace" % i)

    for i, dev in enumerate(linux_devices(config)):
        p = dev.get("path")
        if isinstance(p, str) and (not p.startswith("/") or ospath.normpath(p) == "/" or ".." in p.split("/")):
            add("linux.devices[%d].path: must be an absolute path below / without '..'" % i)

    for field in ("hostname", "domainname"):
        if config.get(field) and not has_ns("uts"):
            add("%s: setting it requires a uts namespace in linux.namespaces" % field)

    maps = [f for f in ("uidMappings", "gidMappings") if linux.get(f)]
    if not has_ns("user"):
        for f in maps:
            add("linux.%s: requires a user namespace in linux.namespaces" % f)
    elif not namespaces[ns_first["user"]].get("path") and len(maps) < 2:
        for f in ("uidMappings", "gidMappings"):
            if f not in maps:
                add("linux.%s: is required when a new user namespace is created (linux.namespaces[%d])"
                    % (f, ns_first["user"]))

    offsets = linux.get("timeOffsets")
    if offsets:
        if not has_ns("time"):
            add("linux.timeOffsets: requires a time namespace in linux.namespaces")
        for clock in offsets:
            if clock not in _TIME_CLOCKS:
                add("%s: unknown clock (must be boottime or monotonic)"
                    % format_path(["linux", "timeOffsets", clock]))

    netdevs = linux.get("netDevices")
    if netdevs:
        if not has_ns("network"):
            add("linux.netDevices: requires a network namespace in linux.namespaces")
        for host_name, dev in netdevs.items():
            where = format_path(["linux", "netDevices", host_name])
            if not _valid_ifname(host_name):
                add("%s: %r is not a valid network interface name" % (where, host_name))
            name = dev.get("name")
            if name is not None and not _valid_ifname(name.replace("%d", "0")):
                add("%s.name: %r is not a valid network interface name" % (where, name))

    for key in linux.get("sysctl") or {}:
        norm = key.replace("/", ".")
        where = format_path(["linux", "sysctl", key])
        parts = key.replace(".", "/").split("/")  # how it is written: /proc/sys/<parts>
        if key.startswith("/") or "" in parts or ".." in parts:
            add("%s: is not a valid sysctl name (empty, '.' or '..' component)" % where)
        elif norm in _IPC_SYSCTLS or norm.startswith("fs.mqueue."):
            if not has_ns("ipc"):
                add("%s: requires an ipc namespace in linux.namespaces" % where)
        elif norm.startswith("net."):
            if not has_ns("network"):
                add("%s: requires a network namespace in linux.namespaces" % where)
        elif norm in _UTS_SYSCTLS:
            if not has_ns("uts"):
                add("%s: requires a uts namespace in linux.namespaces" % where)
            field = norm[len("kernel."):]  # hostname, domainname: the same kernel value
            named, value = config.get(field), linux["sysctl"][key]
            if isinstance(named, str) and isinstance(value, str) and value != named:
                add("%s: %s contradicts %s %s (both set the same kernel value)"
                    % (where, _quote(value), field, _quote(named)))
        else:
            add("%s: is not namespaced; setting it would change the host" % where)

    seccomp = linux.get("seccomp")
    if isinstance(seccomp, dict):
        if "defaultErrnoRet" in seccomp and seccomp.get("defaultAction") not in _ERRNO_ACTIONS:
            add("linux.seccomp.defaultErrnoRet: only allowed when defaultAction is "
                "SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
        for i, sc in enumerate(seccomp.get("syscalls") or []):
            if "errnoRet" in sc and sc.get("action") not in _ERRNO_ACTIONS:
                add("linux.seccomp.syscalls[%d].errnoRet: only allowed when action is "
                    "SCMP_ACT_ERRNO or SCMP_ACT_TRACE" % i)

    resources = linux.get("resources") if isinstance(linux.get("resources"), dict) else {}
    cpu = resources.get("cpu") or {}
    quota, burst = cpu.get("quota"), cpu.get("burst")
    if quota is not None and burst is not None and quota > 0 and burst > quota:
        add("linux.resources.cpu.burst: must not be larger than quota (%d)" % quota)

    rdt = linux.get("intelRdt") or {}
    if "\n" in (rdt.get("memBwSchema") or ""):
        add("linux.intelRdt.memBwSchema: must not contain newlines")
    for i, line in enumerate(rdt.get("schemata") or []):
        if "\n" in line:
            add("linux.intelRdt.schemata[%d]: must not contain newlines" % i)

    mpol = linux.get("memoryPolicy")
    if isinstance(mpol, dict):
        mode, nodes = mpol.get("mode"), mpol.get("nodes")
        if mode in _MPOL_NO_NODES and nodes:
            add("linux.memoryPolicy.nodes: must be empty for %s" % mode)
        elif mode in _MPOL_NEED_NODES and not nodes:
            add("linux.memoryPolicy.nodes: %s needs at least one node" % mode)
    return errs + security_errors(config)


def linux_devices(config):
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    return [d for d in linux.get("devices") or () if isinstance(d, dict)]


def _valid_ifname(name):
    return (
        0 < len(name.encode()) <= 15
        and name not in (".", "..")
        and not any(c in name for c in "/:") and not any(c.isspace() for c in name)
    )


# ---------------------------------------------------------------------------
# hostile input: what must be refused before the schema or anything else looks
# at the document, and the bounds that keep the work of a create small

MAX_DEPTH = 64          # nesting of objects/arrays (jsonio refuses far deeper ones while parsing)
MAX_PATH = 4096         # bytes in a path (PATH_MAX)
MAX_ARG = 131072        # bytes in one argument or environment string (MAX_ARG_STRLEN)
MAX_ITEMS = 4096        # mounts, devices, masked/read-only paths, seccomp rules, id mappings
MAX_HOOKS = 256         # hooks of one kind (each is a process)
MAX_PROBLEMS = 20       # problems reported by input_errors before it stops looking


def input_errors(config):
    """Strings no kernel interface can carry and documents too deep to handle, by
    field: a NUL byte (C strings end there), a string that is not valid Unicode
    (a lone surrogate from a ``\\ud800`` escape: it cannot be encoded), keys
    included; nesting deeper than ``MAX_DEPTH``.  Walks the whole document once."""
    errs = []

    def bad_string(s):
        if "\0" in s:
            return "contains a NUL byte"
        if not s.isascii():
            try:
                s.encode()
            except UnicodeEncodeError as e:
                return "is not valid Unicode (lone surrogate U+%04X at offset %d)" % (ord(s[e.start]), e.start)
        return None

    def walk(value, path, depth):
        if len(errs) >= MAX_PROBLEMS:
            return
        t = type(value)
        if t is str:
            why = bad_string(value)
            if why:
                errs.append("%s: %s" % (format_path(path), why))
        elif t is dict:
            if depth >= MAX_DEPTH:
                errs.append("%s...: nested deeper than the limit of %d levels" % (format_path(path[:4]), MAX_DEPTH))
                return
            for k, v in value.items():
                path.append(k)
                why = bad_string(k)
                if why:
                    errs.append("%s: the key %s" % (format_path(path), why))
                walk(v, path, depth + 1)
                path.pop()
        elif t is list:
            if depth >= MAX_DEPTH:
                errs.append("%s...: nested deeper than the limit of %d levels" % (format_path(path[:4]), MAX_DEPTH))
                return
            for i, v in enumerate(value):
                path.append(i)
                walk(v, path, depth + 1)
                path.pop()

    walk(config, [], 0)
    return errs


def _d(v):
    return v if isinstance(v, dict) else {}


def _l(v):
    return v if isinstance(v, list) else []


def limit_errors(config):
    """Bounds on a schema-valid config, each naming its limit: path lengths,
    argument sizes and the number of items whose handling costs a system call
    or a process each (a create must stay cheap to refuse)."""
    errs = []
    add = errs.append

    def path_len(where, v):
        if isinstance(v, str) and len(v) > MAX_PATH // 4 and len(v.encode()) > MAX_PATH:
            add("%s: longer than the limit of %d bytes for a path" % (where, MAX_PATH))

    def items(where, v, limit=MAX_ITEMS):
        if isinstance(v, list) and len(v) > limit:
            add("%s: more than the limit of %d items" % (where, limit))
            return []
        return _l(v)

    process, linux = _d(config.get("process")), _d(config.get("linux"))
    path_len("root.path", _d(config.get("root")).get("path"))
    path_len("process.cwd", process.get("cwd"))
    for field in ("args", "env"):
        for i, a in enumerate(_l(process.get(field))):
            if isinstance(a, str) and len(a) > MAX_ARG // 4 and len(a.encode()) >= MAX_ARG:
                add("process.%s[%d]: longer than the kernel's limit of %d bytes" % (field, i, MAX_ARG))
    for i, m in enumerate(items("mounts", config.get("mounts"))):
        m = _d(m)
        path_len("mounts[%d].destination" % i, m.get("destination"))
        path_len("mounts[%d].source" % i, m.get("source"))
    for kind, hooks in _d(config.get("hooks")).items():
        for i, h in enumerate(items("hooks.%s" % kind, hooks, MAX_HOOKS)):
            path_len("hooks.%s[%d].path" % (kind, i), _d(h).get("path"))
    for i, ns in enumerate(_l(linux.get("namespaces"))):
        path_len("linux.namespaces[%d].path" % i, _d(ns).get("path"))
    for i, dev in enumerate(items("linux.devices", linux.get("devices"))):
        path_len("linux.devices[%d].path" % i, _d(dev).get("path"))
    for field in ("maskedPaths", "readonlyPaths"):
        for i, p in enumerate(items("linux." + field, linux.get(field))):
            path_len("linux.%s[%d]" % (field, i), p)
    for field in ("uidMappings", "gidMappings"):
        items("linux." + field, linux.get(field), 340)  # the kernel's limit per map
    items("linux.resources.devices", _d(linux.get("resources")).get("devices"))
    seccomp = _d(linux.get("seccomp"))
    path_len("linux.seccomp.listenerPath", seccomp.get("listenerPath"))
    items("linux.seccomp.syscalls", seccomp.get("syscalls"))
    path_len("linux.cgroupsPath", linux.get("cgroupsPath"))
    return errs


# ---------------------------------------------------------------------------
# ids and mounts that would hand the container more than the config says

_NO_ID = 4294967295  # (uid_t)-1 / (gid_t)-1: "leave unchanged" to setres[ug]id and chown


def security_errors(config):
    """Privilege holes a schema-valid config can open (all refused before anything is made):

    - ``process.user.uid``/``gid``/``additionalGids[i]``: 4294967295 is (uid_t)-1, which
      setresuid/setresgid read as "unchanged": the process would stay root.
    - ``linux.uidMappings[i]``/``gidMappings[i]`` (and a mount's): containerID+size and
      hostID+size must stay within the 32-bit ids, below 4294967295.
    - ``mounts[i].destination``: nothing inside /proc but the lxcfs-style files, and
      /proc itself only as a proc (or a bind of one) (CVE-2025-52881).
    """
    from runtime.mounts import proc_destination_problem

    errs = []
    process = config.get("process") if isinstance(config.get("process"), dict) else {}
    user = process.get("user") if isinstance(process.get("user"), dict) else {}
    for key in ("uid", "gid"):
        if user.get(key) == _NO_ID:
            errs.append("process.user.%s: %d is (%s_t)-1, which means \"unchanged\" to the kernel: "
                        "not a valid id" % (key, _NO_ID, key[0] + "id"))
    gids = user.get("additionalGids")
    for i, g in enumerate(gids if isinstance(gids, list) else ()):
        if g == _NO_ID:
            errs.append("process.user.additionalGids[%d]: %d is (gid_t)-1: not a valid group id" % (i, _NO_ID))
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    where = [("linux.", linux)]
    mounts = config.get("mounts")
    for i, m in enumerate(mounts if isinstance(mounts, list) else ()):
        if isinstance(m, dict):
            where.append(("mounts[%d]." % i, m))
            dest = m.get("destination")
            if isinstance(dest, str):
                problem = proc_destination_problem(dest, m.get("type"), m.get("options"))
                if problem:
                    errs.append("mounts[%d].destination: %s" % (i, problem))
    for prefix, obj in where:
        for field in ("uidMappings", "gidMappings"):
            maps = obj.get(field)
            for i, mp in enumerate(maps if isinstance(maps, list) else ()):
                for key in ("containerID", "hostID"):
                    if not isinstance(mp, dict):
                        break
                    start, size = mp.get(key), mp.get("size")
                    if isinstance(start, int) and isinstance(size, int) and start + size > _NO_ID:
                        errs.append("%s%s[%d]: %s %d + size %d runs past the last valid id %d"
                                    % (prefix, field, i, key, start, size, _NO_ID - 1))
                        break
    return errs
