/*
 * tools/axon/common.c - messages, option values, the run-time (loop,
 * signals, children) and stdio for the axon subcommands. The session
 * bridge lives in session.c.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool cli_verbose;

/* ------------------------------------------------------------- messages */

/* Copies src into dst (cap bytes) with every control byte (C0, DEL) as
 * \xNN: a message quotes addresses and paths that come from outside (a
 * peer's Unix path, a file name), and must stay one harmless line. */
static void unctrl(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 5 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        else
            dst[o++] = (char)c;
    }
    dst[o] = '\0';
}

__attribute__((format(printf, 1, 0))) static void vmsg(const char *fmt, va_list ap)
{
    char buf[AX_ERROR_MAX + 256], safe[sizeof buf];
    vsnprintf(buf, sizeof buf, fmt, ap);
    unctrl(safe, sizeof safe, buf);
    /* One write per message, so lines from concurrent writers (children
     * sharing our stderr) do not interleave inside a line. */
    fprintf(stderr, "axon: %s\n", safe);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

void cli_log(const char *fmt, ...)
{
    if (!cli_verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fputs(usage, stderr);
    return CLI_USAGE;
}

int cli_bad_option(const char *usage, int ret, char *const argv[])
{
    char name[64];
    /* An unknown long option (optopt 0) and a missing value (always the
     * last thing in its word) leave getopt_long past the word at fault. */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if ((!optopt || ret == ':') && strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), arg);
    } else {
        snprintf(name, sizeof name, "-%c", optopt);
    }
    if (ret == ':')
        return cli_usage_error(usage, "option %s needs a value", name);
    return cli_usage_error(usage, "unknown option %s", name);
}

int cli_parse_time(const char *flag, const char *text, uint32_t *ms)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}};
    /* Plain decimals only: strtod() alone would take "1e3", "0x10", "nan". */
    size_t digits = strspn(text, "0123456789."), dots = 0;
    for (size_t i = 0; i < digits; i++)
        dots += text[i] == '.';
    const char *unit = text + digits;
    char num[32];
    double v = -1;
    if (digits > dots && digits < sizeof num && dots <= 1) {
        memcpy(num, text, digits);
        num[digits] = '\0';
        v = strtod(num, NULL);
    }
    if (v >= 0) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(unit, units[i].unit) != 0)
                continue;
            double t = v * units[i].mult + 0.5; /* rounded below */
            if (t < 1 || t >= (double)INT_MAX + 1) {
                cli_err("invalid value for %s: \"%s\": must be between 1 ms and %d s", flag,
                        text, INT_MAX / 1000);
                return -1;
            }
            *ms = (uint32_t)t;
            return 0;
        }
    }
    cli_err("invalid value for %s: \"%s\": want seconds, or a number with ms, s, m or h", flag,
            text);
    return -1;
}

int cli_parse_count(const char *flag, const char *text, size_t *out)
{
    size_t n = 0;
    const char *p = text;
    while (*p >= '0' && *p <= '9' && n <= 1000000)
        n = n * 10 + (size_t)(*p++ - '0');
    if (p == text || *p || n < 1 || n > 1000000) {
        cli_err("invalid value for %s: \"%s\": want a number from 1 to 1000000", flag, text);
        return -1;
    }
    *out = n;
    return 0;
}

int cli_check_uri(const char *text, ax_uri *out)
{
    if (ax_uri_parse(text, out) < 0) {
        cli_err("%s", ax_last_error()->message);
        return -1;
    }
    return 0;
}

const char *cli_conn_label(ax_conn *c, char *buf, size_t len)
{
    const char *a = ax_conn_remote_address(c);
    ax_cred cred;
    if (!a)
        snprintf(buf, len, "fd %d", ax_conn_fd(c));
    else if (strcmp(a, "unix://") == 0 && ax_peer_cred(ax_conn_fd(c), &cred) == 0)
        snprintf(buf, len, "unix://(pid %ld)", (long)cred.pid);
    else
        snprintf(buf, len, "%s", a);
    return buf;
}

/* -------------------------------------------------------------- commands */

int cli_cmd_init(cli_cmd *cmd, const char *text, bool shell)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->text = text;
    cmd->shell = shell;
    size_t words = 0, len = strlen(text);
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && (i == 0 || text[i - 1] == ' ' ||
                                                   text[i - 1] == '\t'))
            words++;
    if (words == 0) {
        cli_err("the command for --%s is empty", shell ? "sh-exec" : "exec");
        return -1;
    }
    if (shell)
        return 0;
    /* The pointers and a copy of the text in one block. */
    char **argv = malloc((words + 1) * sizeof *argv + len + 1);
    if (!argv) {
        cli_err("out of memory");
        return -1;
    }
    char *copy = (char *)(argv + words + 1);
    memcpy(copy, text, len + 1);
    size_t n = 0;
    for (char *tok = strtok(copy, " \t"); tok; tok = strtok(NULL, " \t"))
        argv[n++] = tok;
    argv[n] = NULL;
    cmd->argv = argv;
    return 0;
}

void cli_cmd_free(cli_cmd *cmd)
{
    free(cmd->argv);
    cmd->argv = NULL;
}

/* ------------------------------------------------------------- run time */

static void reap(cli_rt *rt)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < rt->nchildren; i++) {
            if (rt->children[i] == pid) {
                rt->children[i] = rt->children[--rt->nchildren];
                break;
            }
        }
        if (WIFEXITED(st))
            cli_log("command (pid %ld) exited with status %d", (long)pid, WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            cli_log("command (pid %ld) killed by signal %d", (long)pid, WTERMSIG(st));
    }
}

static void on_signal(ax_signal *sig, int signo, void *arg)
{
    (void)sig;
    cli_rt *rt = arg;
    if (signo == SIGCHLD) {
        reap(rt);
        return;
    }
    if (rt->stopping && rt->signo) {
        /* A second interrupt: the clean stop is taking too long. */
        _exit(128 + signo);
    }
    rt->signo = signo;
    cli_log("stopping on signal %d (%s)", signo, strsignal(signo));
    cli_rt_stop(rt, 128 + signo);
}

int cli_rt_init(cli_rt *rt, bool children)
{
    memset(rt, 0, sizeof *rt);
    rt->tty_fd[0] = rt->tty_fd[1] = -1;
    /* A write to a closed stdout or to a command that went away must
     * come back as EPIPE, not kill the tool. */
    signal(SIGPIPE, SIG_IGN);
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    }
    rt->loop = ax_loop_new(NULL);
    if (!rt->loop) {
        cli_err("%s", ax_last_error()->message);
        return -1;
    }
    static const int signos[3] = {SIGINT, SIGTERM, SIGCHLD};
    for (int i = 0; i < (children ? 3 : 2); i++) {
        rt->sigs[i] = ax_signal_watch(rt->loop, signos[i], on_signal, rt);
        if (!rt->sigs[i]) {
            cli_err("%s", ax_last_error()->message);
            return -1;
        }
        /* Watching signals alone must not keep the run going. */
        ax_signal_set_ref(rt->sigs[i], 0);
    }
    return 0;
}

int cli_rt_run(cli_rt *rt)
{
    int rc = ax_loop_run(rt->loop);
    if (rc < 0) {
        cli_err("%s", ax_last_error()->message);
        if (!rt->exit_code)
            rt->exit_code = CLI_FAIL;
    }
    return rt->exit_code;
}

void cli_rt_stop(cli_rt *rt, int exit_code)
{
    if (!rt->exit_code)
        rt->exit_code = exit_code;
    if (rt->stopping)
        return;
    rt->stopping = true;
    if (rt->on_stop)
        rt->on_stop(rt->stop_arg);
    cli__sessions_close(rt);
    for (size_t i = 0; i < rt->nchildren; i++)
        kill(rt->children[i], SIGTERM);
}

void cli_rt_fini(cli_rt *rt)
{
    ax_loop_free(rt->loop);
    rt->loop = NULL;
    for (int i = 0; i < 2; i++) {
        if (rt->tty_fd[i] >= 0) {
            fcntl(rt->tty_fd[i], F_SETFL, rt->tty_flags[i]);
            close(rt->tty_fd[i]);
        }
    }
    free(rt->children);
}

/* ---------------------------------------------------------------- stdio */

int cli_stdio_open(cli_rt *rt, ax_conn **in, ax_conn **out)
{
    *in = *out = NULL;
    /* ax_conn_open() makes the fds non-blocking, which a terminal shares
     * with the shell: keep a handle to give the flags back at exit. */
    for (int fd = 0; fd < 2; fd++) {
        if (rt->tty_fd[fd] < 0 && isatty(fd)) {
            rt->tty_flags[fd] = fcntl(fd, F_GETFL);
            rt->tty_fd[fd] = rt->tty_flags[fd] >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
        }
    }
    /* Two connections rather than one for both fds: each direction then
     * ends (and is freed) on its own, so stdout can be closed at the
     * peer's FIN while stdin still feeds the socket, and the reverse. */
    if (ax_conn_open(rt->loop, 0, -1, in) < 0) {
        cli_err("stdin: %s", ax_last_error()->message);
        return -1;
    }
    if (ax_conn_open(rt->loop, -1, 1, out) < 0) {
        cli_err("stdout: %s", ax_last_error()->message);
        ax_conn_close(*in);
        *in = NULL;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- children */

static int track_child(cli_rt *rt, pid_t pid)
{
    if (rt->nchildren == rt->capchildren) {
        size_t cap = rt->capchildren ? rt->capchildren * 2 : 8;
        pid_t *a = realloc(rt->children, cap * sizeof *a);
        if (!a)
            return -1;
        rt->children = a;
        rt->capchildren = cap;
    }
    rt->children[rt->nchildren++] = pid;
    return 0;
}

static void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
}

int cli_spawn(cli_rt *rt, const cli_cmd *cmd, ax_conn **from_cmd, ax_conn **to_cmd, pid_t *pid,
              char *err, size_t errlen)
{
    int to[2] = {-1, -1}, from[2] = {-1, -1}, ep[2] = {-1, -1};
    *from_cmd = *to_cmd = NULL;
    if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "Cannot run \"%s\": pipe: %s", cmd->text, strerror(errno));
        close_pair(to);
        close_pair(from);
        close_pair(ep);
        return -1;
    }
    pid_t p = fork();
    if (p == 0) {
        /* The child: dup2 clears close-on-exec on 0 and 1; every other fd
         * of ours (sockets, the loop) is close-on-exec already. The signal
         * mask and SIGPIPE's disposition survive exec: give them back. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
            _exit(127);
        if (cmd->shell)
            execl("/bin/sh", "sh", "-c", cmd->text, (char *)NULL);
        else
            execvp(cmd->argv[0], cmd->argv);
        int e = errno;
        if (write(ep[1], &e, sizeof e) < 0) {
        }
        _exit(127);
    }
    int e = errno;
    close(to[0]);
    close(from[1]);
    close(ep[1]);
    if (p < 0) {
        snprintf(err, errlen, "Cannot run \"%s\": fork: %s", cmd->text, strerror(e));
        close(to[1]);
        close(from[0]);
        close(ep[0]);
        return -1;
    }
    /* The pipe closes at exec (success) or carries exec's errno. */
    ssize_t n;
    do
        n = read(ep[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof e) {
        snprintf(err, errlen, "Cannot run \"%s\": %s", cmd->text, strerror(e));
        close(to[1]);
        close(from[0]);
        waitpid(p, NULL, 0);
        return -1;
    }
    if (track_child(rt, p) < 0 || ax_conn_open(rt->loop, from[0], -1, from_cmd) < 0) {
        snprintf(err, errlen, "Cannot run \"%s\": %s", cmd->text, ax_last_error()->message);
        close(to[1]);
        close(from[0]);
        kill(p, SIGTERM);
        return -1;
    }
    if (ax_conn_open(rt->loop, -1, to[1], to_cmd) < 0) {
        snprintf(err, errlen, "Cannot run \"%s\": %s", cmd->text, ax_last_error()->message);
        close(to[1]);
        ax_conn_close(*from_cmd);
        *from_cmd = NULL;
        kill(p, SIGTERM);
        return -1;
    }
    *pid = p;
    return 0;
}
