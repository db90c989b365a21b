"""pyrunc's command line: runc's commands and flags, so engines can call it unchanged."""
import argparse
import os
import sys

from runtime import log
from runtime.errors import RuntimeFailure

VERSION = "0.1.0"
SPEC_VERSION = "1.3.0"

USAGE = """pyrunc [global options] command [command options] [arguments...]

pyrunc is an OCI runtime-spec {spec} container runtime, a drop-in replacement for runc.
A container is created from a bundle: a directory with a config.json and a root filesystem.

commands:
  create    create a container from a bundle (it waits for start)
  start     run the user process of a created container
  run       create and start a container (and wait for it unless --detach)
  state     print the state of a container as JSON
  kill      send a signal (default SIGTERM) to the container's init (or --all its processes)
  delete    delete a container (--force: also a running one)
  list      list the containers under --root
  ps        list the processes of a container
  pause     freeze every process of a container
  resume    thaw a paused container
  features  print the runtime-spec features document of this runtime
  spec      write a default config.json into a bundle
  check     check a bundle: schema and host-fit problems, all at once (not in runc)
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"pyrunc: {self.prog.split(' ', 1)[-1] if ' ' in self.prog else 'usage'}: {message}\n")
        sys.exit(2)


def build_parser():
    p = Parser(prog="pyrunc", usage=USAGE.format(spec=SPEC_VERSION), add_help=True,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="/run/pyrunc", help="state directory (default /run/pyrunc)")
    p.add_argument("--log", default=None, help="log file (default: stderr)")
    p.add_argument("--log-format", default="text", choices=("text", "json"), help="log format")
    p.add_argument("--debug", action="store_true", help="log debug messages")
    p.add_argument("--systemd-cgroup", action="store_true", help="use systemd for cgroups")
    p.add_argument("--rootless", default="auto", help="true, false or auto (accepted for runc compatibility)")
    p.add_argument("--criu", default="criu", help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true", help="print the version")
    sub = p.add_subparsers(dest="command", metavar="command", parser_class=Parser)

    def cmd(name, help, idarg=True):
        sp = sub.add_parser(name, help=help, description=help)
        if idarg:
            sp.add_argument("id", metavar="container-id")
        return sp

    def create_flags(sp):
        sp.add_argument("-b", "--bundle", default=None, help="bundle directory (default: the current one)")
        sp.add_argument("--console-socket", default=None, help="unix socket that receives the pty master")
        sp.add_argument("--pid-file", default=None, help="write the container's pid here")
        sp.add_argument("--no-pivot", action="store_true", help="use MS_MOVE + chroot instead of pivot_root")
        sp.add_argument("--no-new-keyring", action="store_true", help="do not create a new session keyring")
        sp.add_argument("--preserve-fds", type=int, default=0, help="pass fds 3..3+N-1 to the container")

    create_flags(cmd("create", "create a container"))
    cmd("start", "start a created container")
    sp = cmd("run", "create and start a container")
    create_flags(sp)
    sp.add_argument("-d", "--detach", action="store_true", help="do not wait for the container")
    sp.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    sp.add_argument("--no-subreaper", action="store_true", help=argparse.SUPPRESS)
    cmd("state", "print the state of a container")
    sp = cmd("kill", "send a signal to a container")
    sp.add_argument("signal", nargs="?", default=None, help="signal name or number (default TERM)")
    sp.add_argument("-a", "--all", action="store_true", help="signal every process of the container")
    sp = cmd("delete", "delete a container")
    sp.add_argument("-f", "--force", action="store_true", help="kill and delete a running container")
    sp = cmd("list", "list containers", idarg=False)
    sp.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    sp.add_argument("-f", "--format", default="table", choices=("table", "json"))
    sp = cmd("ps", "list a container's processes")
    sp.add_argument("-f", "--format", default="table", choices=("table", "json"))
    sp.add_argument("ps_args", nargs=argparse.REMAINDER)
    cmd("pause", "pause a container")
    cmd("resume", "resume a paused container")
    cmd("features", "print the features document", idarg=False)
    sp = cmd("spec", "write a default config.json", idarg=False)
    sp.add_argument("-b", "--bundle", default=None)
    sp.add_argument("--rootless", action="store_true")
    sp = cmd("check", "check a bundle (schema and host fit)", idarg=False)
    sp.add_argument("-b", "--bundle", default=None)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    opts = parser.parse_args(argv)
    if opts.version:
        print(f"pyrunc version {VERSION}\nspec: {SPEC_VERSION}\npython: {sys.version.split()[0]}")
        return 0
    if not opts.command:
        parser.print_help()
        return 0
    log.setup(opts.log, opts.log_format, opts.debug)
    opts.rootless = opts.rootless == "true"
    try:
        return COMMANDS[opts.command](opts) or 0
    except RuntimeFailure as e:
        for line in e.lines:
            log.error(line)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: one line, never a traceback (PYRUNC_TRACEBACK=1 shows it)
        if os.environ.get("PYRUNC_TRACEBACK"):
            raise
        log.error(f"internal error: {type(e).__name__}: {e}")
        return 1


def _json_out(obj, indent=2):
    import json

    sys.stdout.write(json.dumps(obj, indent=indent) + "\n")


def cmd_create(opts):
    from runtime import container

    c, _ = container.create(opts)
    c.close()


def cmd_start(opts):
    from runtime import container

    container.start(opts)


def cmd_run(opts):
    from runtime import container

    return container.run(opts)


def cmd_state(opts):
    from runtime import container

    _json_out(container.state(opts))


def cmd_kill(opts):
    from runtime import container

    container.kill(opts)


def cmd_delete(opts):
    from runtime import container

    container.delete(opts)


def cmd_list(opts):
    from runtime import container

    states = container.list_states(opts)
    if opts.quiet:
        for s in states:
            print(s["id"])
    elif opts.format == "json":
        import json

        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
        for r in rows:
            print("".join(r[i].ljust(widths[i]) for i in range(5)) + r[5])


def cmd_ps(opts):
    from runtime import container

    pids = container.ps(opts)
    if opts.format == "json":
        import json

        print(json.dumps(pids))
        return
    import subprocess

    args = opts.ps_args or ["-ef"]
    out = subprocess.run(["ps", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeFailure(f"ps {' '.join(args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return
    header = lines[0].split()
    if "PID" not in header:
        raise RuntimeFailure("ps: no PID column in the output")
    col = header.index("PID")
    print(lines[0])
    want = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in want:
            print(line)


def cmd_pause(opts):
    from runtime import container

    container.pause(opts)


def cmd_resume(opts):
    from runtime import container

    container.resume(opts)


def cmd_features(opts):
    from runtime import features

    _json_out(features.document())


def cmd_spec(opts):
    import json

    from runtime.specconf import default_spec

    bundle = opts.bundle or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise RuntimeFailure("File config.json exists. Remove it first.")
    try:
        with open(path, "w") as f:
            json.dump(default_spec(rootless=opts.rootless), f, indent="\t")
            f.write("\n")
    except OSError as e:
        raise RuntimeFailure(f"{path}: {e.strerror}") from None


def cmd_check(opts):
    from runtime.check import check_bundle

    problems = check_bundle(os.path.abspath(opts.bundle or "."))
    if problems:
        raise RuntimeFailure(problems[0], lines=problems)
    print("ok: the bundle will run on this host")


COMMANDS = {
    "create": cmd_create, "start": cmd_start, "run": cmd_run, "state": cmd_state, "kill": cmd_kill,
    "delete": cmd_delete, "list": cmd_list, "ps": cmd_ps, "pause": cmd_pause, "resume": cmd_resume,
    "features": cmd_features, "spec": cmd_spec, "check": cmd_check,
}
