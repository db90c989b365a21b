"""One module per command of the command line (as youki's commands/ and crun's src/).

Each module has `main(opts)`: it takes the parsed options from runtime/cli.py, does
the command's work through the lifecycle (runtime/container.py, runtime/state.py) and
the Linux mechanisms, prints what the command prints, and returns the exit status (or
None for 0).  Failures are RuntimeFailure, one line each.  runtime/cli.py imports only
the module of the command being run.
"""
