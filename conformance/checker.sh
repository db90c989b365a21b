#!/bin/sh
# pyrunc conformance checker: runs INSIDE a container (busybox sh) and reports
# what the container sees as key=value lines, one fact per line.  Keys that
# hold several values (env, mount, dev, fd, ...) are repeated.
#
# Usage: pyrunc-checker [SECTION ...] [sysctl=NAME ...] [write=PATH ...]
#                       [read=PATH ...] [exists=PATH ...]
# Sections: id uts env caps limits oom mounts dev ns fd proc all (default: all)
#
# Everything is read about the shell itself ($$), never about a child
# process, because an exec'd helper may get different credentials or caps.
# The script never writes anywhere except stdout, so it works on a read-only
# root filesystem.

self=$$

emit() {
    # emit KEY FILE: one KEY=line per line of FILE (builtins only: no fork)
    if [ -r "$2" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            echo "$1=$line"
        done < "$2"
    else
        echo "$1.error=unreadable $2"
    fi
}

status_field() {
    # status_field NAME: the value of "NAME:" in /proc/$$/status
    while IFS= read -r line; do
        case "$line" in
            "$1:"*)
                line=${line#*:}
                # squeeze tabs / spaces into single spaces
                set -- $line
                echo "$*"
                return 0
                ;;
        esac
    done < /proc/$self/status
    echo ""
}

sec_id() {
    set -- $(status_field Uid)
    echo "uid=$1"
    echo "euid=$2"
    echo "suid=$3"
    echo "fsuid=$4"
    set -- $(status_field Gid)
    echo "gid=$1"
    echo "egid=$2"
    echo "sgid=$3"
    echo "fsgid=$4"
    echo "groups=$(status_field Groups)"
    um=$(status_field Umask)
    [ -n "$um" ] || um=$(umask)
    echo "umask=$um"
    echo "cwd=$(readlink /proc/$self/cwd)"
    echo "pid=$self"
    echo "ppid=$(status_field PPid)"
}

sec_uts() {
    echo "hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null)"
    echo "domainname=$(cat /proc/sys/kernel/domainname 2>/dev/null)"
}

sec_env() {
    # /proc/self/environ is NUL separated: the initial environment of exec
    tr '\000' '\n' < /proc/$self/environ | while IFS= read -r line; do
        echo "env=$line"
    done
}

sec_caps() {
    for f in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do
        echo "$f=$(status_field $f)"
    done
}

sec_limits() {
    emit limits /proc/$self/limits
}

sec_oom() {
    echo "oom_score_adj=$(cat /proc/$self/oom_score_adj 2>/dev/null)"
}

sec_mounts() {
    emit mount /proc/$self/mountinfo
}

sec_dev() {
    for f in /dev/* /dev/.[!.]*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        if [ -L "$f" ]; then
            echo "devlink=${f#/dev/} $(readlink "$f")"
        else
            # name type major(hex) minor(hex) mode uid gid
            stat -c 'dev=%n|%F|%t|%T|%a|%u|%g' "$f" 2>/dev/null
        fi
    done
}

sec_ns() {
    for f in /proc/$self/ns/*; do
        echo "ns.${f##*/}=$(readlink "$f")"
    done
}

sec_fd() {
    # stat is a child writing straight to our stdout: no pipe or
    # command-substitution fd is open in this shell while it runs.  The
    # glob's own directory fd is closed by then (stat reports it missing).
    stat -c "fd=%N" /proc/$self/fd/*
}

sec_proc() {
    echo "cmdline1=$(tr '\000' ' ' < /proc/1/cmdline 2>/dev/null)"
    echo "exe1=$(readlink /proc/1/exe 2>/dev/null)"
    echo "selfexe=$(readlink /proc/$self/exe 2>/dev/null)"
    echo "root=$(readlink /proc/$self/root 2>/dev/null)"
}

sections=""
extras=""
for a in "$@"; do
    case "$a" in
        *=*) extras="$extras $a" ;;
        *) sections="$sections $a" ;;
    esac
done
[ -n "$sections" ] || [ -n "$extras" ] || sections="all"
[ "$sections" = " all" ] || [ "$sections" = "all" ] && \
    sections="fd id uts env caps limits oom mounts dev ns proc"

echo "checker=begin"
for s in $sections; do
    case "$s" in
        id) sec_id ;;
        uts) sec_uts ;;
        env) sec_env ;;
        caps) sec_caps ;;
        limits) sec_limits ;;
        oom) sec_oom ;;
        mounts) sec_mounts ;;
        dev) sec_dev ;;
        ns) sec_ns ;;
        fd) sec_fd ;;
        proc) sec_proc ;;
        *) echo "error=unknown section $s" ;;
    esac
done

for e in $extras; do
    k=${e%%=*}
    v=${e#*=}
    case "$k" in
        sysctl)
            p=/proc/sys/$(echo "$v" | tr . /)
            if [ -r "$p" ]; then
                echo "sysctl.$v=$(cat "$p")"
            else
                echo "sysctl.$v.error=unreadable"
            fi
            ;;
        write)
            if (echo x >> "$v") 2>/dev/null; then
                echo "write.$v=ok"
            else
                echo "write.$v=fail"
            fi
            ;;
        read)
            if cat "$v" > /dev/null 2>&1; then
                echo "read.$v=ok"
            else
                echo "read.$v=fail"
            fi
            ;;
        exists)
            if [ -e "$v" ] || [ -L "$v" ]; then
                echo "exists.$v=yes"
            else
                echo "exists.$v=no"
            fi
            ;;
        *) echo "error=unknown probe $k" ;;
    esac
done
echo "checker=end"
