"""--log / --log-format / --debug: runc's log lines, text (logrus style) or JSON."""
import posix
import sys
import time

from runtime import jsonio

_state = {"fd": None, "json": False, "debug": False}


def setup(path, fmt, debug):
    _state["json"] = fmt == "json"
    _state["debug"] = bool(debug)
    if path:
        try:
            _state["fd"] = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
        except OSError as e:
            sys.stderr.write(f"pyrunc: --log {path}: {e.strerror}\n")
            raise SystemExit(1)


def now_rfc3339(ns=None):
    ns = time.time_ns() if ns is None else ns
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def _line(level, msg):
    if _state["json"]:
        return jsonio.dumps({"level": level, "msg": msg, "time": now_rfc3339()}, compact=True) + "\n"
    return f'time="{now_rfc3339()}" level={level} msg={jsonio.dumps(msg)}\n'


def log(level, msg):
    if level == "debug" and not _state["debug"]:
        return
    fd = _state["fd"]
    if fd is not None:
        posix.write(fd, _line(level, msg).encode())
    elif level != "error":
        # Without --log, warnings and debug go to stderr; errors are printed by error().
        sys.stderr.write(_line(level, msg))


def error(msg):
    """An error: to the log file (if any) and, always, one line on stderr."""
    if _state["fd"] is not None:
        log("error", msg)
    sys.stderr.write(f"pyrunc: {msg}\n")
    sys.stderr.flush()


def warn(msg):
    log("warning", msg)


def debugging():
    """--debug given: guard each debug line with it, so that without --debug not even the
    message is formatted (`if log.debugging(): log.debug(f"...")`)."""
    return _state["debug"]


def debug(msg, *args):
    """A debug line (only with --debug); args, if any, are %-formatted into msg lazily."""
    if not _state["debug"]:
        return
    log("debug", msg % args if args else msg)
