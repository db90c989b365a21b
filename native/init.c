/* pyrunc-init: the last step between the runtime and the container's program.
 *
 * The Python side sets up everything (namespaces, mounts, pivot_root, devices,
 * rlimits, user, capabilities) and then execs this small static program from a
 * sealed memfd copy, so that the waiting container costs little memory and the
 * host's binary is never reachable through /proc/<pid>/exe.
 *
 * Usage: pyrunc-init FD [PID]
 *
 * PID: a child left by the exec that started us (runtime/_native's pyrunc_exec_init:
 * it unmaps the runtime's memory off the runtime's way); reaped first thing.
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
 *
 * It makes its system calls itself, through sys() below: on x86_64 and aarch64 it is
 * built with -nostdlib (native/build.py), a few kB instead of a static libc's 700 kB,
 * so that copying it into the memfd, exec'ing it and keeping it mapped in every
 * waiting container cost next to nothing.  Elsewhere sys() is libc's syscall().
 */
#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifdef PYRUNC_NOLIBC
/* -- the freestanding layer: entry point, system calls, the few string functions ----- */

#if defined(__x86_64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n"
        ".global pyrunc_restorer\n"
        "pyrunc_restorer:\n"
        "  mov $15, %eax\n" /* rt_sigreturn */
        "  syscall\n");
#elif defined(__aarch64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  bl start_c\n"
        ".global pyrunc_restorer\n"
        "pyrunc_restorer:\n"
        "  mov x8, #139\n" /* rt_sigreturn */
        "  svc 0\n");
#else
#error "PYRUNC_NOLIBC: x86_64 and aarch64 only (build without it elsewhere)"
#endif

/* the compiler may emit calls to these for struct copies and zeroing */
void *memset(void *s, int c, size_t n)
{
    unsigned char *p = s;
    while (n--)
        *p++ = (unsigned char)c;
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static int init_main(int argc, char **argv);
void start_c(long *sp);
void pyrunc_restorer(void);

void start_c(long *sp)
{
    int code = init_main((int)sp[0], (char **)(sp + 1));
    sys6(__NR_exit_group, code, 0, 0, 0, 0, 0);
    for (;;)
        ;
}
#define RESTORER pyrunc_restorer
#else
/* -- with libc: its syscall(), its entry point ---------------------------------------- */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}
#endif

/* Every system call returns the kernel's value: -errno on failure. */
#define sys0(n) sys6((n), 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The kernel's ABI constants (the same on x86_64 and aarch64; no libc headers) */
#define K_SIGHUP 1
#define K_SIGINT 2
#define K_SIGQUIT 3
#define K_SIGKILL 9
#define K_SIGUSR1 10
#define K_SIGUSR2 12
#define K_SIGPIPE 13
#define K_SIGALRM 14
#define K_SIGTERM 15
#define K_SIGCHLD 17
#define K_SIGVTALRM 26
#define K_SIGPROF 27
#define K_SIGIO 29
#define K_SIGPWR 30
#define K_SA_RESTORER 0x04000000UL
#define K_SIG_DFL ((void (*)(int))0)
#define K_SIG_IGN ((void (*)(int))1)
#define K_F_SETFD 2
#define K_FD_CLOEXEC 1
#define K_O_CLOEXEC 02000000
#define K_SEEK_SET 0
#define K_SEEK_END 2
#define K_PROT_RW 3
#define K_MAP_PRIVATE_ANON_NORESERVE (0x02 | 0x20 | 0x4000)
#define K_PR_SET_DUMPABLE 4
#define K_CLOCK_MONOTONIC 1
#define K_WNOHANG 1
#define K_SOL_SOCKET 1
#define K_SCM_RIGHTS 1
#define K_MSG_NOSIGNAL 0x4000

struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};
struct k_timespec {
    long tv_sec;
    long tv_nsec;
};
struct k_iovec {
    const void *base;
    size_t len;
};
struct k_msghdr {
    void *name;
    int namelen;
    struct k_iovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned int flags;
};
struct k_cmsghdr {
    size_t len;
    int level;
    int type;
    int fd; /* SCM_RIGHTS with one fd: CMSG_DATA is right after the 16-byte header */
};

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void *alloc(size_t n)
{
    long p = sys6(__NR_mmap, 0, (long)(n ? n : 1), K_PROT_RW, K_MAP_PRIVATE_ANON_NORESERVE, -1, 0);
    return p < 0 && p > -4096 ? NULL : (void *)p;
}

/* glibc's wording, so the messages read as before */
static const char *errno_text(int e)
{
    switch (e) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case ESRCH: return "No such process";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case ENXIO: return "No such device or address";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case ECHILD: return "No child processes";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case EBUSY: return "Device or resource busy";
    case EEXIST: return "File exists";
    case ENODEV: return "No such device";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case EINVAL: return "Invalid argument";
    case ENFILE: return "Too many open files in system";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case EFBIG: return "File too large";
    case ENOSPC: return "No space left on device";
    case EROFS: return "Read-only file system";
    case EPIPE: return "Broken pipe";
    case ERANGE: return "Numerical result out of range";
    case ENAMETOOLONG: return "File name too long";
    case ENOSYS: return "Function not implemented";
    case ELOOP: return "Too many levels of symbolic links";
    case ELIBBAD: return "Accessing a corrupted shared library";
    case ENOTSOCK: return "Socket operation on non-socket";
    case EOPNOTSUPP: return "Operation not supported";
    case ECONNREFUSED: return "Connection refused";
    case ECONNRESET: return "Connection reset by peer";
    case EUSERS: return "Too many users";
    case EDQUOT: return "Disk quota exceeded";
    default: return NULL;
    }
}

/* glibc's strsignal() */
static const char *signal_text(int s)
{
    static const char *const names[] = {
        NULL, "Hangup", "Interrupt", "Quit", "Illegal instruction", "Trace/breakpoint trap",
        "Aborted", "Bus error", "Floating point exception", "Killed", "User defined signal 1",
        "Segmentation fault", "User defined signal 2", "Broken pipe", "Alarm clock",
        "Terminated", "Stack fault", "Child exited", "Continued", "Stopped (signal)",
        "Stopped", "Stopped (tty input)", "Stopped (tty output)", "Urgent I/O condition",
        "CPU time limit exceeded", "File size limit exceeded", "Virtual timer expired",
        "Profiling timer expired", "Window changed", "I/O possible", "Power failure",
        "Bad system call",
    };
    return s > 0 && s < (int)(sizeof(names) / sizeof(names[0])) ? names[s] : NULL;
}

/* one message line, built piece by piece (truncated, never overflowing) */
struct line {
    char buf[1024];
    size_t n;
};

static void put(struct line *l, const char *s)
{
    while (*s && l->n < sizeof(l->buf) - 2)
        l->buf[l->n++] = *s++;
}

static void put_long(struct line *l, long v)
{
    char tmp[24];
    int i = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do
        tmp[i++] = (char)('0' + u % 10);
    while ((u /= 10) && i < 22);
    if (v < 0)
        tmp[i++] = '-';
    char out[24];
    int j = 0;
    while (i)
        out[j++] = tmp[--i];
    out[j] = '\0';
    put(l, out);
}

static void put_errno(struct line *l, int e)
{
    const char *t = errno_text(e);
    if (t) {
        put(l, t);
    } else {
        put(l, "Unknown error ");
        put_long(l, e);
    }
}

#define MAX_INSTR (16 << 20)
#define MAX_HOOKS 64

struct cmd {
    const char *path;
    char **argv;
    char **envp;
    long timeout;
};

static char *buf, *cur, *end;
static char **arena, **arena_end; /* the argv/envp arrays, taken from one mapping */
/* After the start signal, failures are also written into the fifo, where `start`
 * (waiting for the fifo to close) reads them and reports them as its own error. */
static int report_fd = -1;

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        long w = sys3(__NR_write, fd, s, n);
        if (w == -EINTR)
            continue;
        if (w <= 0)
            return; /* a hook need not read its stdin; a closed stderr is not our failure */
        s += w;
        n -= (size_t)w;
    }
}

static void say(const char *msg)
{
    const char *p = msg;
    size_t n = str_len(msg);
    /* `start` reports what reached the fifo as its own error: the container's stderr
     * (for `run` the same terminal) gets it only when it could not be written there */
    while (report_fd >= 0 && n > 0) {
        long w = sys3(__NR_write, report_fd, p, n);
        if (w == -EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    if (report_fd < 0 || n > 0) {
        struct line l = { .n = 0 };
        put(&l, msg);
        l.buf[l.n++] = '\n';
        write_all(2, l.buf, l.n);
    }
}

static void die_line(struct line *l, int code)
{
    l->buf[l->n] = '\0';
    say(l->buf);
    sys1(__NR_exit_group, code);
    for (;;)
        ;
}

static void die(const char *what, int err, int code)
{
    struct line l = { .n = 0 };
    put(&l, "pyrunc-init: ");
    put(&l, what);
    if (err) {
        put(&l, ": ");
        put_errno(&l, err);
    }
    die_line(&l, code);
}

static const char *word(void)
{
    if (cur >= end)
        die("instructions truncated", 0, 127);
    const char *w = cur;
    while (cur < end && *cur)
        cur++;
    if (cur >= end)
        die("instructions not terminated", 0, 127);
    cur++;
    return w;
}

static long number(void)
{
    const char *w = word(), *p = w;
    int neg = *p == '-';
    if (neg)
        p++;
    if (*p == '\0')
        die("bad number in instructions", 0, 127);
    unsigned long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (0x7fffffffffffffffUL - 9) / 10)
            die("bad number in instructions", 0, 127);
        v = v * 10 + (unsigned long)(*p - '0');
    }
    return neg ? -(long)v : (long)v;
}

static char **words(void)
{
    long n = number();
    if (n < 0 || n > 1 << 20 || arena_end - arena < n + 1)
        die("bad count in instructions", 0, 127);
    char **v = arena;
    arena += n + 1;
    for (long i = 0; i < n; i++)
        v[i] = (char *)word();
    v[n] = NULL;
    return v;
}

static void read_all(int fd)
{
    long size = sys3(__NR_lseek, fd, 0, K_SEEK_END);
    if (size < 0)
        die("read instructions", (int)-size, 127);
    if (size >= MAX_INSTR)
        die("instructions too large", 0, 127);
    buf = alloc((size_t)size + 1);
    /* every array holds at most one pointer per word (each at least its NUL) + its NULL */
    arena = alloc(((size_t)size + 2 * MAX_HOOKS + 4) * sizeof(char *));
    if (!buf || !arena)
        die("mmap", ENOMEM, 127);
    arena_end = arena + size + 2 * MAX_HOOKS + 4;
    long len = 0;
    while (len < size) {
        long r = sys6(__NR_pread64, fd, (long)(buf + len), size - len, len, 0, 0);
        if (r == -EINTR)
            continue;
        if (r < 0)
            die("read instructions", (int)-r, 127);
        if (r == 0)
            break;
        len += r;
    }
    sys1(__NR_close, fd);
    cur = buf;
    end = buf + len;
}

static int set_handler(int sig, void (*handler)(int))
{
#ifdef PYRUNC_NOLIBC
    struct k_sigaction sa = { .handler = handler, .flags = K_SA_RESTORER, .restorer = RESTORER, .mask = 0 };
    return (int)sys4(__NR_rt_sigaction, sig, &sa, 0, sizeof(sa.mask));
#else
    struct sigaction sa; /* libc's: its layout and sigreturn trampoline for this architecture */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
#endif
}

/* While it waits, the created container dies of the signals a program would die of
 * (as runc's init does): pid 1 of a pid namespace ignores signals it has no handler
 * for.  execve resets these handlers to the default. */
static void on_signal(int sig)
{
    sys1(__NR_exit_group, 128 + sig);
}

static void die_on_signals(void)
{
    static const int sigs[] = { K_SIGHUP, K_SIGINT, K_SIGQUIT, K_SIGTERM, K_SIGUSR1, K_SIGUSR2,
                                K_SIGALRM, K_SIGPIPE, K_SIGVTALRM, K_SIGPROF, K_SIGIO, K_SIGPWR };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        set_handler(sigs[i], on_signal);
}

static void wait_start(int fd)
{
    char c;
    for (;;) {
        long r = sys3(__NR_read, fd, &c, 1);
        if (r == 1)
            break;
        if (r == -EINTR)
            continue;
        die("read start signal", r < 0 ? (int)-r : EPIPE, 127);
    }
}

static void run_hook(const struct cmd *h, const char *state)
{
    int p[2];
    long r = sys2(__NR_pipe2, p, K_O_CLOEXEC);
    if (r < 0)
        die("pipe", (int)-r, 127);
    long pid = sys5(__NR_clone, K_SIGCHLD, 0, 0, 0, 0); /* fork */
    if (pid < 0)
        die("fork hook", (int)-pid, 127);
    if (pid == 0) {
        if (p[0] == 0) {
            if (sys3(__NR_fcntl, 0, K_F_SETFD, 0) < 0)
                sys1(__NR_exit_group, 127);
        } else if (sys3(__NR_dup3, p[0], 0, 0) < 0) {
            sys1(__NR_exit_group, 127);
        }
        set_handler(K_SIGPIPE, K_SIG_DFL);
        sys3(__NR_execve, h->path, h->argv, h->envp);
        sys1(__NR_exit_group, 127);
    }
    sys1(__NR_close, p[0]);
    write_all(p[1], state, str_len(state));
    sys1(__NR_close, p[1]);

    struct k_timespec start, now, nap = { 0, 2000000 };
    sys2(__NR_clock_gettime, K_CLOCK_MONOTONIC, &start);
    int status = 0;
    for (;;) {
        long w = sys4(__NR_wait4, pid, &status, h->timeout > 0 ? K_WNOHANG : 0, 0);
        if (w == pid)
            break;
        if (w == -EINTR)
            continue;
        if (w < 0)
            die("wait hook", (int)-w, 127);
        sys2(__NR_clock_gettime, K_CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= h->timeout) {
            sys2(__NR_kill, pid, K_SIGKILL);
            sys4(__NR_wait4, pid, &status, 0, 0);
            struct line l = { .n = 0 };
            put(&l, "pyrunc-init: startContainer hook ");
            put(&l, h->path);
            put(&l, " timed out after ");
            put_long(&l, h->timeout);
            put(&l, "s");
            die_line(&l, 127);
        }
        sys2(__NR_nanosleep, &nap, 0);
    }
    if ((status & 0x7f) == 0 && ((status >> 8) & 0xff) != 0) {
        struct line l = { .n = 0 };
        put(&l, "pyrunc-init: error running startContainer hook ");
        put(&l, h->path);
        put(&l, ": exit status ");
        put_long(&l, (status >> 8) & 0xff);
        die_line(&l, 127);
    }
    if ((status & 0x7f) != 0 && (status & 0x7f) != 0x7f) {
        /* SIGSYS: the container's seccomp filter killed it ("bad system call") */
        int sig = status & 0x7f;
        const char *name = signal_text(sig);
        struct line l = { .n = 0 };
        put(&l, "pyrunc-init: error running startContainer hook ");
        put(&l, h->path);
        put(&l, ": signal ");
        put_long(&l, sig);
        put(&l, " (");
        if (name) {
            put(&l, name);
        } else {
            put(&l, "Unknown signal ");
            put_long(&l, sig);
        }
        put(&l, ")");
        die_line(&l, 127);
    }
}

/* Returns what seccomp(2) returns: the listener fd with NEW_LISTENER, else 0. */
static int load_seccomp(int fd, unsigned int flags)
{
    long size = sys3(__NR_lseek, fd, 0, K_SEEK_END);
    if (size < 0)
        die("seccomp program", (int)-size, 127);
    size_t len = (size_t)size;
    if (len == 0 || len % sizeof(struct sock_filter) || len > 65536 * sizeof(struct sock_filter))
        die("seccomp program has a bad size", 0, 127);
    struct sock_filter *f = alloc(len);
    if (!f)
        die("mmap", ENOMEM, 127);
    size_t got = 0;
    while (got < len) {
        long r = sys6(__NR_pread64, fd, (long)((char *)f + got), (long)(len - got), (long)got, 0, 0);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            die("read seccomp program", r < 0 ? (int)-r : EIO, 127);
        got += (size_t)r;
    }
    sys1(__NR_close, fd);
    struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)), f };
    long r = sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (r < 0)
        die("load seccomp filter", (int)-r, 127);
    return (int)r;
}

/* Hand the seccomp listener fd to the runtime over the sync channel and wait until it
 * has passed it on to the agent (its answer); then the channel is closed. */
static void send_listener(int sock, int listener)
{
    static const char msg[] = "{\"t\": \"seccomp\"}";
    union {
        struct k_cmsghdr c;
        char buf[24]; /* CMSG_SPACE(sizeof(int)) */
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    ctl.c.len = 20; /* CMSG_LEN(sizeof(int)) */
    ctl.c.level = K_SOL_SOCKET;
    ctl.c.type = K_SCM_RIGHTS;
    ctl.c.fd = listener;
    struct k_iovec iov = { msg, sizeof(msg) - 1 };
    struct k_msghdr mh = { 0, 0, &iov, 1, ctl.buf, sizeof(ctl.buf), 0 };
    long r;
    while ((r = sys3(__NR_sendmsg, sock, &mh, K_MSG_NOSIGNAL)) < 0) {
        if (r != -EINTR)
            die("send the seccomp listener fd to the runtime", (int)-r, 127);
    }
    sys1(__NR_close, listener);
    char answer[256];
    do
        r = sys6(__NR_recvfrom, sock, (long)answer, sizeof(answer), 0, 0, 0);
    while (r == -EINTR);
    if (r < 0)
        die("seccomp listener: no answer from the runtime", (int)-r, 127);
    if (r == 0)
        sys1(__NR_exit_group, 127); /* the runtime failed to reach the agent: it says so itself */
    sys1(__NR_close, sock);
}

static long decimal(const char *a, const char *what)
{
    long v = 0;
    if (*a == '\0')
        die(what, 0, 127);
    for (; *a; a++) {
        if (*a < '0' || *a > '9' || v > 0x7fffffff / 10)
            die(what, 0, 127);
        v = v * 10 + (*a - '0');
    }
    return v;
}

static int init_main(int argc, char **argv)
{
    /* exec made us dumpable again: until the container's program is exec'd (which
     * resets it), a process sharing our pid namespace and uid must not ptrace us or
     * open /proc/1/fd, where the start fifo and the instructions are (CVE-2016-9962). */
    sys5(__NR_prctl, K_PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc != 2 && argc != 3)
        die("usage: pyrunc-init FD [PID]", 0, 127);
    long fd = decimal(argv[1], "bad instruction fd");
    if (argc == 3) {
        /* the task unmapping the runtime's memory: it exits as soon as it is done (our
         * exec closed its pipe); reaped before anything else, so the container's
         * program never sees a child it did not make */
        long pid = decimal(argv[2], "bad pid"), w;
        do
            w = sys4(__NR_wait4, pid, 0, 0, 0);
        while (w == -EINTR);
    }
    read_all((int)fd);

    int fifo = -1, seccomp_fd = -1, listener_sock = -1;
    unsigned int seccomp_flags = 0;
    const char *state = "";
    struct cmd hooks[MAX_HOOKS], prog = { 0, 0, 0, 0 };
    int nhooks = 0;

    while (cur < end) {
        const char *w = word();
        if (str_eq(w, "fifo")) {
            fifo = (int)number();
        } else if (str_eq(w, "seccomp")) {
            seccomp_fd = (int)number();
            seccomp_flags = (unsigned int)number();
        } else if (str_eq(w, "listener")) {
            listener_sock = (int)number();
        } else if (str_eq(w, "state")) {
            state = word();
        } else if (str_eq(w, "hook")) {
            if (nhooks == MAX_HOOKS)
                die("too many hooks", 0, 127);
            hooks[nhooks].timeout = number();
            hooks[nhooks].path = word();
            hooks[nhooks].argv = words();
            hooks[nhooks].envp = words();
            nhooks++;
        } else if (str_eq(w, "exec")) {
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
    long r;
    if (seccomp_fd >= 0 && (r = sys3(__NR_fcntl, seccomp_fd, K_F_SETFD, K_FD_CLOEXEC)) < 0)
        die("seccomp fd", (int)-r, 127);
    if (fifo >= 0 && (r = sys3(__NR_fcntl, fifo, K_F_SETFD, K_FD_CLOEXEC)) < 0)
        die("fifo fd", (int)-r, 127);
    if (listener_sock >= 0 && (r = sys3(__NR_fcntl, listener_sock, K_F_SETFD, K_FD_CLOEXEC)) < 0)
        die("listener socket", (int)-r, 127);

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
        set_handler(K_SIGPIPE, K_SIG_IGN);
        for (int i = 0; i < nhooks; i++)
            run_hook(&hooks[i], state);
        set_handler(K_SIGPIPE, K_SIG_DFL);
    }

    r = sys3(__NR_execve, prog.path, prog.argv, prog.envp);
    int err = (int)-r;
    struct line l = { .n = 0 };
    put(&l, "pyrunc-init: exec ");
    put(&l, prog.path);
    put(&l, ": ");
    put_errno(&l, err);
    die_line(&l, err == ENOENT ? 127 : 126);
    return 127;
}

#ifndef PYRUNC_NOLIBC
int main(int argc, char **argv)
{
    return init_main(argc, argv);
}
#endif
