/* pyrunc-init: the last step between the runtime and the container's program.
 *
 * The Python side sets up everything (namespaces, mounts, pivot_root, devices,
 * rlimits, user, capabilities) and then execs this small static program from a
 * sealed memfd copy, so that the waiting container costs little memory and the
 * host's binary is never reachable through /proc/<pid>/exe.
 *
 * Usage: pyrunc-init FD
 *
 * FD holds a list of NUL-terminated words, read in order:
 *   fifo N                      wait for one byte on fd N (the start signal);
 *                               the fd is closed by the final exec
 *   seccomp N FLAGS             load the BPF program read from fd N
 *   listener S                  FLAGS has SECCOMP_FILTER_FLAG_NEW_LISTENER: send the
 *                               listener fd over the unix socket S (the sync channel
 *                               to the runtime, which hands it to the seccomp agent)
 *                               as the message {"t": "seccomp"} with SCM_RIGHTS, wait
 *                               for the runtime's answer, close S
 *   state JSON                  the state handed to the hooks on stdin
 *   hook TIMEOUT PATH ARGC ARG... ENVC ENV...   run a startContainer hook
 *   exec PATH ARGC ARG... ENVC ENV...           exec the container's program
 *                               (absent only with fifo: a container created without
 *                               `process` holds its namespaces; `start` refuses it
 *                               and a start signal anyway is an error)
 * Order: with a listener the filter is loaded first, before the start signal, while
 * the runtime that forwards the fd (create, exec) is still there; otherwise right
 * after the start signal.  Either way it is in force before the startContainer hooks
 * run (runc's order: a hook using a blocked syscall fails), then the program is
 * exec'd.  Any failure prints one line to stderr and exits 127 (126 for exec errors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_INSTR (16 << 20)
#define MAX_HOOKS 64

struct cmd {
    const char *path;
    char **argv;
    char **envp;
    long timeout;
};

static char *buf, *cur, *end;
/* After the start signal, failures are also written into the fifo, where `start`
 * (waiting for the fifo to close) reads them and reports them as its own error. */
static int report_fd = -1;

static void say(const char *msg)
{
    const char *p = msg;
    size_t n = strlen(msg);
    /* `start` reports what reached the fifo as its own error: the container's stderr
     * (for `run` the same terminal) gets it only when it could not be written there */
    while (report_fd >= 0 && n > 0) {
        ssize_t w = write(report_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    if (report_fd < 0 || n > 0)
        fprintf(stderr, "%s\n", msg);
}

static void die(const char *what, int err, int code)
{
    char line[512];
    if (err)
        snprintf(line, sizeof(line), "pyrunc-init: %s: %s", what, strerror(err));
    else
        snprintf(line, sizeof(line), "pyrunc-init: %s", what);
    say(line);
    _exit(code);
}

static const char *word(void)
{
    if (cur >= end)
        die("instructions truncated", 0, 127);
    const char *w = cur;
    char *nul = memchr(cur, '\0', (size_t)(end - cur));
    if (!nul)
        die("instructions not terminated", 0, 127);
    cur = nul + 1;
    return w;
}

static long number(void)
{
    const char *w = word();
    char *e;
    errno = 0;
    long v = strtol(w, &e, 10);
    if (errno || *w == '\0' || *e != '\0')
        die("bad number in instructions", 0, 127);
    return v;
}

static char **words(void)
{
    long n = number();
    if (n < 0 || n > 1 << 20)
        die("bad count in instructions", 0, 127);
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v)
        die("calloc", errno, 127);
    for (long i = 0; i < n; i++)
        v[i] = (char *)word();
    return v;
}

static void read_all(int fd)
{
    size_t cap = 65536, len = 0;
    buf = malloc(cap);
    if (!buf)
        die("malloc", errno, 127);
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_INSTR)
                die("instructions too large", 0, 127);
            cap *= 2;
            char *n = realloc(buf, cap);
            if (!n)
                die("realloc", errno, 127);
            buf = n;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read instructions", errno, 127);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    cur = buf;
    end = buf + len;
}

/* While it waits, the created container dies of the signals a program would die of
 * (as runc's init does): pid 1 of a pid namespace ignores signals it has no handler
 * for.  execve resets these handlers to the default. */
static void on_signal(int sig)
{
    _exit(128 + sig);
}

static void die_on_signals(void)
{
    static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                                SIGALRM, SIGPIPE, SIGVTALRM, SIGPROF, SIGIO, SIGPWR };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static void wait_start(int fd)
{
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r == 1)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        die("read start signal", r < 0 ? errno : EPIPE, 127);
    }
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return; /* the hook need not read its stdin */
        s += w;
        n -= (size_t)w;
    }
}

static void run_hook(const struct cmd *h, const char *state)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe", errno, 127);
    pid_t pid = fork();
    if (pid < 0)
        die("fork hook", errno, 127);
    if (pid == 0) {
        if (dup2(p[0], 0) < 0)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        execve(h->path, h->argv, h->envp);
        _exit(127);
    }
    close(p[0]);
    write_all(p[1], state, strlen(state));
    close(p[1]);

    struct timespec start, now, nap = { 0, 2000000 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, h->timeout > 0 ? WNOHANG : 0);
        if (r == pid)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("wait hook", errno, 127);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= h->timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            char line[512];
            snprintf(line, sizeof(line), "startContainer hook %s timed out after %lds",
                     h->path, h->timeout);
            die(line, 0, 127);
        }
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        char line[512];
        snprintf(line, sizeof(line), "error running startContainer hook %s: exit status %d",
                 h->path, WEXITSTATUS(status));
        die(line, 0, 127);
    }
    if (WIFSIGNALED(status)) {
        /* SIGSYS: the container's seccomp filter killed it ("bad system call") */
        char line[512];
        snprintf(line, sizeof(line), "error running startContainer hook %s: signal %d (%s)",
                 h->path, WTERMSIG(status), strsignal(WTERMSIG(status)));
        die(line, 0, 127);
    }
}

/* Returns what seccomp(2) returns: the listener fd with NEW_LISTENER, else 0. */
static int load_seccomp(int fd, unsigned int flags)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("seccomp program", errno, 127);
    size_t len = (size_t)st.st_size;
    if (len == 0 || len % sizeof(struct sock_filter) || len > 65536 * sizeof(struct sock_filter))
        die("seccomp program has a bad size", 0, 127);
    struct sock_filter *f = malloc(len);
    if (!f)
        die("malloc", errno, 127);
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)f + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("read seccomp program", r < 0 ? errno : EIO, 127);
        got += (size_t)r;
    }
    close(fd);
    struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)), f };
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (r < 0)
        die("load seccomp filter", errno, 127);
    free(f);
    return (int)r;
}

/* Hand the seccomp listener fd to the runtime over the sync channel and wait until it
 * has passed it on to the agent (its answer); then the channel is closed. */
static void send_listener(int sock, int listener)
{
    static const char msg[] = "{\"t\": \"seccomp\"}";
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = { (void *)msg, sizeof(msg) - 1 };
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &listener, sizeof(int));
    while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            die("send the seccomp listener fd to the runtime", errno, 127);
    }
    close(listener);
    char answer[256];
    ssize_t r;
    do
        r = recv(sock, answer, sizeof(answer), 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        die("seccomp listener: no answer from the runtime", errno, 127);
    if (r == 0)
        _exit(127); /* the runtime failed to reach the agent: it says so itself */
    close(sock);
}

int main(int argc, char **argv)
{
    /* exec made us dumpable again: until the container's program is exec'd (which
     * resets it), a process sharing our pid namespace and uid must not ptrace us or
     * open /proc/1/fd, where the start fifo and the instructions are (CVE-2016-9962). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc != 2)
        die("usage: pyrunc-init FD", 0, 127);
    char *e;
    long fd = strtol(argv[1], &e, 10);
    if (*argv[1] == '\0' || *e != '\0' || fd < 0)
        die("bad instruction fd", 0, 127);
    read_all((int)fd);

    int fifo = -1, seccomp_fd = -1, listener_sock = -1;
    unsigned int seccomp_flags = 0;
    const char *state = "";
    struct cmd hooks[MAX_HOOKS], prog = { 0 };
    int nhooks = 0;

    while (cur < end) {
        const char *w = word();
        if (!strcmp(w, "fifo")) {
            fifo = (int)number();
        } else if (!strcmp(w, "seccomp")) {
            seccomp_fd = (int)number();
            seccomp_flags = (unsigned int)number();
        } else if (!strcmp(w, "listener")) {
            listener_sock = (int)number();
        } else if (!strcmp(w, "state")) {
            state = word();
        } else if (!strcmp(w, "hook")) {
            if (nhooks == MAX_HOOKS)
                die("too many hooks", 0, 127);
            hooks[nhooks].timeout = number();
            hooks[nhooks].path = word();
            hooks[nhooks].argv = words();
            hooks[nhooks].envp = words();
            nhooks++;
        } else if (!strcmp(w, "exec")) {
            prog.path = word();
            prog.argv = words();
            prog.envp = words();
        } else {
            die("unknown instruction", 0, 127);
        }
    }
    if (!prog.path && fifo < 0)
        die("nothing to exec", 0, 127);
    if ((listener_sock >= 0) != (seccomp_fd >= 0 && (seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)))
        die("listener and a seccomp filter with SECCOMP_FILTER_FLAG_NEW_LISTENER go together", 0, 127);

    /* Keep our own fds out of the container's program.  The fifo stays open
     * until the exec closes it: `start` waits for that to know the program runs. */
    if (seccomp_fd >= 0 && fcntl(seccomp_fd, F_SETFD, FD_CLOEXEC) < 0)
        die("seccomp fd", errno, 127);
    if (fifo >= 0 && fcntl(fifo, F_SETFD, FD_CLOEXEC) < 0)
        die("fifo fd", errno, 127);
    if (listener_sock >= 0 && fcntl(listener_sock, F_SETFD, FD_CLOEXEC) < 0)
        die("listener socket", errno, 127);

    if (listener_sock >= 0) {
        send_listener(listener_sock, load_seccomp(seccomp_fd, seccomp_flags));
        seccomp_fd = -1;
    }

    if (fifo >= 0) {
        die_on_signals();
        wait_start(fifo);
        report_fd = fifo;
    }

    if (!prog.path)
        die("process: the container was created without one: nothing to start", 0, 127);
    if (seccomp_fd >= 0)
        load_seccomp(seccomp_fd, seccomp_flags);

    if (nhooks) {
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < nhooks; i++)
            run_hook(&hooks[i], state);
        signal(SIGPIPE, SIG_DFL);
    }

    execve(prog.path, prog.argv, prog.envp);
    int err = errno;
    char line[512];
    snprintf(line, sizeof(line), "exec %s", prog.path);
    die(line, err, err == ENOENT ? 127 : 126);
    return 127;
}
