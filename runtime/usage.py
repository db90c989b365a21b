"""What pyrunc's command line prints when it runs no command: --help and --version
(urfave/cli's layout, as runc prints them), and where a usage error is logged.  Apart
from runtime/cli.py, which every call imports, so that a command does not unmarshal them.
"""
import sys

from runtime.cli import _CHOICES, _HELP, COMMAND_TABLE, GLOBAL_FLAGS, SPEC_VERSION, VERSION


def _flag_help(flags):
    lines = []
    rows = []
    for names, takes, default, text in flags:
        longs = [n for n in names if n.startswith("--")] + [n for n in names if not n.startswith("--")]
        label = ", ".join(n + (" value" if takes else "") for n in longs)
        dflt = f' (default: "{default}")' if takes and isinstance(default, str) and default else (
            f" (default: {default})" if takes and isinstance(default, int) and not isinstance(default, bool) else "")
        rows.append((label, text + dflt))
    width = max((len(r[0]) for r in rows), default=0) + 2
    for label, text in rows:
        lines.append(f"   {label:<{width}}{text}")
    return "\n".join(lines)


def _usage_args(posargs, takes_rest, command="ps"):
    words = [f"<{n}>" if req else f"[{n}]" for n, req in posargs]
    rest = ["[ps options]"] if command == "ps" else ["<command> [command options]"]
    return " ".join(words + (rest if takes_rest else []))


def version_text():
    try:
        from runtime import _buildinfo

        commit = _buildinfo.COMMIT
    except ImportError:
        commit = "unknown"
    return (f"pyrunc version {VERSION}\ncommit: {commit}\nspec: {SPEC_VERSION}\n"
            f"python: {sys.version.split()[0]}\n")


def help_text(command=None):
    """urfave/cli's help layout, as runc prints it (NAME:, USAGE:, ...)."""
    if command in COMMAND_TABLE:
        summary, flags, posargs, takes_rest = COMMAND_TABLE[command]
        opts = _flag_help(flags + _HELP)
        return (f"NAME:\n   pyrunc {command} - {summary}\n\nUSAGE:\n   pyrunc {command} [command options] "
                f"{_usage_args(posargs, takes_rest, command)}".rstrip() + f"\n\nOPTIONS:\n{opts}\n")
    names = list(COMMAND_TABLE) + ["help, h"]
    width = max(len(n) for n in names) + 2
    cmds = "\n".join(f"   {n:<{width}}{COMMAND_TABLE[n][0]}" for n in COMMAND_TABLE)
    cmds += f"\n   {'help, h':<{width}}Shows a list of commands or help for one command"
    version = version_text().split("\n", 1)[0][len("pyrunc version "):]
    rest = version_text().split("\n", 1)[1]
    return ("NAME:\n   pyrunc - Open Container Initiative runtime, in Python\n\n"
            f"pyrunc is an OCI runtime-spec {SPEC_VERSION} container runtime, a drop-in replacement for runc\n"
            "with runc's commands and flags. Containers are made from bundles: a directory holding a\n"
            "config.json and the root filesystem it names (`pyrunc spec` writes a default config.json).\n\n"
            "To start a new instance of a container:\n\n    # pyrunc run [ -b bundle ] <container-id>\n\n"
            "USAGE:\n   pyrunc [global options] command [command options] [arguments...]\n\n"
            f"VERSION:\n   {version}\n{rest}\n"
            f"COMMANDS:\n{cmds}\n\nGLOBAL OPTIONS:\n{_flag_help(GLOBAL_FLAGS)}\n")


def log_target(argv, parsed):
    """--log and --log-format for a usage error: those parsed, or found among the global
    flags after the word that stopped the parser (`--bad --log F` still logs to F)."""
    path, fmt = getattr(parsed, "log", None), getattr(parsed, "log_format", None)
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--" or a in COMMAND_TABLE:
            break
        name, eq, value = a.partition("=")
        if name.lstrip("-") in ("log", "log-format") and name.startswith("-"):
            if not eq:
                if not args:
                    break
                value = args.pop(0)
            if name.endswith("format"):
                fmt = value if value in _CHOICES["log_format"] else fmt
            else:
                path = value
    return path, fmt if fmt in _CHOICES["log_format"] else "text"
