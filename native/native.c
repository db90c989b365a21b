/* The C side of runtime._native.
 *
 * Only what Python's standard library does not expose is here, and only as
 * one-to-one wrappers of syscalls: no policy, no allocation, no state (but for
 * pyrunc_exit: an exit whose memory is freed off the caller's way; and
 * pyrunc_netns_*: a network namespace made by a thread, off the caller's way).
 * errno is left as the kernel set it; cffi hands it to Python as ffi.errno.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <signal.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int pyrunc_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int pyrunc_capget(int pid, uint32_t *data)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &hdr, d) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        data[3 * i + 0] = d[i].effective;
        data[3 * i + 1] = d[i].permitted;
        data[3 * i + 2] = d[i].inheritable;
    }
    return 0;
}

static int pyrunc_capset(const uint32_t *data)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
        d[i].effective = data[3 * i + 0];
        d[i].permitted = data[3 * i + 1];
        d[i].inheritable = data[3 * i + 2];
    }
    return (int)syscall(SYS_capset, &hdr, d);
}

/* The bounding set as a mask: PR_CAPBSET_READ of capabilities 0..63, as one call
 * (it needs no /proc; the kernel refuses a number it does not know). */
static uint64_t pyrunc_bounding_set(void)
{
    uint64_t mask = 0;
    for (int n = 0; n < 64; n++) {
        if (prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 1)
            mask |= (uint64_t)1 << n;
    }
    return mask;
}

/* PR_CAPBSET_DROP of each capability in `drop`, lowest first: 0, or -1 with errno
 * set and *failed the number the kernel refused. */
static int pyrunc_bounding_drop(uint64_t drop, int *failed)
{
    for (int n = 0; n < 64; n++) {
        if ((drop >> n & 1) && prctl(PR_CAPBSET_DROP, n, 0, 0, 0) != 0) {
            *failed = n;
            return -1;
        }
    }
    return 0;
}

/* A network namespace made off the caller's way (copy_net_ns costs ~0.7 ms): a
 * thread of its own unshares one and opens it while the caller goes on, and
 * pyrunc_netns_take joins the thread and hands over the fd.  The caller owns *job
 * (it must outlive the thread: take always follows a start that returned 0); no
 * thread is left after take, so a fork after it copies a single-threaded process. */
struct pyrunc_netns {
    pthread_t thread;
    int fd;
    int err;
};

static void *pyrunc_netns_make(void *arg)
{
    struct pyrunc_netns *job = arg;

    if (unshare(CLONE_NEWNET) != 0) {
        job->err = errno;
        return NULL;
    }
    job->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (job->fd < 0)
        job->err = errno;
    return NULL;
}

/* 0 (the thread runs), or an errno (no thread) */
static int pyrunc_netns_start(struct pyrunc_netns *job)
{
    pthread_attr_t attr;
    int err;

    job->fd = -1;
    job->err = 0;
    err = pthread_attr_init(&attr);
    if (err != 0)
        return err;
    err = pthread_attr_setstacksize(&attr, 65536);
    if (err == 0)
        err = pthread_create(&job->thread, &attr, pyrunc_netns_make, job);
    pthread_attr_destroy(&attr);
    return err;
}

/* the namespace's fd (O_CLOEXEC), or -1 with errno set */
static int pyrunc_netns_take(struct pyrunc_netns *job)
{
    int err = pthread_join(job->thread, NULL);

    if (err != 0) {
        errno = err;
        return -1;
    }
    if (job->fd < 0) {
        errno = job->err;
        return -1;
    }
    return job->fd;
}

static int pyrunc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                          uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int pyrunc_seccomp_load(const void *prog, size_t len, unsigned int flags)
{
    struct sock_fprog fprog;
    if (len == 0 || len % sizeof(struct sock_filter) ||
        len / sizeof(struct sock_filter) > 0xffff) {
        errno = EINVAL;
        return -1;
    }
    fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
    fprog.filter = (struct sock_filter *)prog;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

static int pyrunc_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

static long pyrunc_join_session_keyring(const char *name)
{
    return syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name, 0, 0, 0);
}

static int pyrunc_fork_into_cgroup(int cgroup_fd)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    return (int)syscall(SYS_clone3, &args, sizeof(args));
}

/* _exit(status), leaving the unmapping of this process's memory to a task that shares
 * it: the kernel frees an address space with its last user, and a caller waiting for
 * our exit (an engine, `run`'s parent) otherwise waits for the interpreter's ~2000
 * pages to be unmapped too (~0.7 ms here).  The task (clone CLONE_VM, on the stack
 * below, all signals blocked) closes every fd but the read end of a pipe whose write
 * end only this process holds, so it keeps no pipe or file of the caller open; our
 * exit closes the write end, its read() returns 0 and it exits, freeing the memory.
 * Reparented by then, it is reaped by init or the caller's subreaper.  When the
 * pipe or the clone is refused, a plain _exit.  The one function here that is more
 * than a syscall's wrapper. */
static char pyrunc_exit_stack[16384] __attribute__((aligned(64)));
static int pyrunc_exit_pipe[2];  /* written before the clone, read by the task */

static int pyrunc_exit_unmapper(void *arg)
{
    int rfd = pyrunc_exit_pipe[0];
    char c;

    (void)arg;
    syscall(SYS_close, pyrunc_exit_pipe[1]);
    /* without close_range (Linux < 5.9) it cannot let go of the caller's fds: it exits
     * at once and our exit frees the memory as usual */
    if ((rfd > 0 && syscall(SYS_close_range, 0, rfd - 1, 0) != 0) ||
            syscall(SYS_close_range, rfd + 1, ~0U, 0) != 0)
        syscall(SYS_exit, 0);
    while (syscall(SYS_read, rfd, &c, 1) > 0)
        ;  /* 0: our creator is gone; -1: nothing better to wait on */
    syscall(SYS_exit, 0);  /* this task only; its memory goes with it */
    return 0;
}

static void pyrunc_exit(int status)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);  /* inherited by the task: no handler runs there */
    if (pipe2(pyrunc_exit_pipe, O_CLOEXEC) == 0) {
        clone(pyrunc_exit_unmapper, pyrunc_exit_stack + sizeof(pyrunc_exit_stack),
              CLONE_VM | SIGCHLD, NULL);
        close(pyrunc_exit_pipe[0]);
    }
    _exit(status);
}

/* execveat(fd, "", {arg0, arg1, PID}, {}, AT_EMPTY_PATH), the container's
 * pyrunc-init, leaving the unmapping of this process's memory to a task that shares
 * it, as pyrunc_exit does for an exit: exec frees the old address space with its
 * last user, and create waits for this exec (~0.8 ms of unmapping the interpreter's
 * pages).  The task (pyrunc_exit_unmapper, on a stack of its own) is a child of
 * this process: its PID goes to pyrunc-init, which reaps it first thing.  When the
 * pipe or the clone is refused, a plain exec without PID.  Returns only on failure
 * (-1, errno set), the task gone by then. */
static char pyrunc_exec_stack[16384] __attribute__((aligned(64)));

static int pyrunc_exec_init(int fd, const char *arg0, const char *arg1)
{
    char pid_word[24], digits[24];
    char *argv[4] = { (char *)arg0, (char *)arg1, NULL, NULL };
    char *envp[1] = { NULL };
    sigset_t all, old;
    long pid = -1;
    int err, n = 0, i = 0;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);  /* the task starts with every signal blocked */
    if (pipe2(pyrunc_exit_pipe, O_CLOEXEC) == 0) {
        pid = clone(pyrunc_exit_unmapper, pyrunc_exec_stack + sizeof(pyrunc_exec_stack),
                    CLONE_VM | SIGCHLD, NULL);
        close(pyrunc_exit_pipe[0]);
        if (pid < 0)
            close(pyrunc_exit_pipe[1]);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);  /* exec keeps the mask: the caller's again */
    if (pid > 0) {
        for (long v = pid; v > 0; v /= 10)
            digits[n++] = (char)('0' + v % 10);
        while (n > 0)
            pid_word[i++] = digits[--n];
        pid_word[i] = '\0';
        argv[2] = pid_word;
    }
    syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    err = errno;
    if (pid > 0) {  /* the exec failed: let the task go, and wait until it is gone */
        close(pyrunc_exit_pipe[1]);
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    errno = err;
    return -1;
}

/* clone3 with CLONE_NEW* flags: fork-like, the child starts in its new namespaces
 * (and, when cgroup_fd >= 0, in that cgroup v2 directory: CLONE_INTO_CGROUP). */
static int pyrunc_clone3(uint64_t flags, int cgroup_fd)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    args.exit_signal = SIGCHLD;
    return (int)syscall(SYS_clone3, &args, sizeof(args));
}

/* The sync channel without Python's socket module (whose import costs more than the
 * whole exchange): socketpair(2) and sendmsg(2)/recvmsg(2) with up to
 * PYRUNC_MAX_FDS fds as SCM_RIGHTS, the control message built here.  EINTR is retried. */
#define PYRUNC_MAX_FDS 16

static int pyrunc_seqpacket_pair(int *sv)
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

static long pyrunc_send_fds(int sock, const char *data, size_t len, const int *fds, int nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * PYRUNC_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { (void *)data, len };
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds < 0 || nfds > PYRUNC_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    long n;
    do
        n = sendmsg(sock, &mh, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

/* The fds received beyond maxfds are closed; *nfds is how many are in fds. */
static long pyrunc_recv_fds(int sock, char *buf, size_t cap, int flags, int *fds, int maxfds, int *nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * PYRUNC_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { buf, cap };
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    *nfds = 0;
    long n;
    do
        n = recvmsg(sock, &mh, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int got[PYRUNC_MAX_FDS];
        if (k > PYRUNC_MAX_FDS)
            k = PYRUNC_MAX_FDS;
        memcpy(got, CMSG_DATA(c), k * sizeof(int));
        for (size_t i = 0; i < k; i++) {
            if (*nfds < maxfds)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    return n;
}

/* mount_setattr(2) with struct mount_attr (MOUNT_ATTR_SIZE_VER0): flags is
 * AT_RECURSIVE / AT_EMPTY_PATH / AT_SYMLINK_NOFOLLOW; userns_fd only with MOUNT_ATTR_IDMAP. */
static int pyrunc_mount_setattr(int dirfd, const char *path, unsigned int flags,
                                uint64_t attr_set, uint64_t attr_clr, uint64_t propagation,
                                uint64_t userns_fd)
{
    struct mount_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    attr.propagation = propagation;
    attr.userns_fd = userns_fd;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

/* open_tree(2): an fd of the mount at path, or of a detached clone of it (OPEN_TREE_CLONE) */
static int pyrunc_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

/* move_mount(2): attach the mount from_dirfd/from_path at to_dirfd/to_path */
static int pyrunc_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                             const char *to_path, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}
