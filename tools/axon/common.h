/*
 * tools/axon/common.h - what the axon subcommands share: messages and exit
 * codes, option values, the run-time (loop, signals, children), stdio as
 * connections, and the session that bridges one socket with a local
 * source and sink (stdin/stdout, or a command's pipes).
 */
#ifndef AXON_TOOL_COMMON_H
#define AXON_TOOL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <axon.h>

/* Exit codes: 0 done, 1 a run-time failure (refused, reset, idle timeout,
 * a write to stdout that failed), 2 a bad command line; a run stopped by
 * SIGINT or SIGTERM exits with 128 + the signal number. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* -v was given: log connections to stderr. */
extern bool cli_verbose;

/* "axon: <message>\n" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same, only with -v. */
void cli_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "axon: <message>\n" then the short usage on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message for getopt_long()'s '?' or ':' (opterr = 0), then usage;
 * returns CLI_USAGE. */
int cli_bad_option(const char *usage, int ret, char *const argv[]);

/* A time for -i/-w: seconds ("2", "1.5") or a number with a unit ("500ms",
 * "2s", "1m", "1h"); 1 ms up to INT_MAX ms. Returns 0, or -1 after
 * printing what is wrong. */
int cli_parse_time(const char *flag, const char *text, uint32_t *ms);

/* A count for --max-conns: 1 up to 1000000. Returns 0 or -1 as above. */
int cli_parse_count(const char *flag, const char *text, size_t *out);

/* Parses a URI as the library does, printing its message on failure
 * (axon: Invalid URI "..." given: ...). Returns 0 or -1. */
int cli_check_uri(const char *text, ax_uri *out);

/* A peer's label for messages: its address, and for an unnamed Unix
 * client "unix://(pid N)". buf holds at least CLI_LABEL_MAX bytes. */
#define CLI_LABEL_MAX (AX_URISTRLEN + 32)
const char *cli_conn_label(ax_conn *c, char *buf, size_t len);

/* -------------------------------------------------------------- commands */

/* A command for --exec (split on blanks, run with execvp) or --sh-exec
 * (run with /bin/sh -c). */
typedef struct cli_cmd {
    const char *text; /* as given; borrowed from argv */
    bool shell;
    char **argv;      /* --exec: the words; one allocation, freed by cli_cmd_free */
} cli_cmd;

/* Fills cmd from text. Returns 0, or -1 after printing (an empty command). */
int cli_cmd_init(cli_cmd *cmd, const char *text, bool shell);
void cli_cmd_free(cli_cmd *cmd);

/* ------------------------------------------------------------- run time */

typedef struct cli_session cli_session;

typedef struct cli_rt {
    ax_loop *loop;
    ax_signal *sigs[3];  /* SIGINT, SIGTERM, SIGCHLD (exec modes only) */
    int exit_code;       /* CLI_OK until something fails */
    int signo;           /* the signal that stopped the run, or 0 */
    bool stopping;
    /* Called once when a signal (or a fatal error) stops the run: close
     * servers and everything the mode owns so the loop can end. */
    void (*on_stop)(void *arg);
    void *stop_arg;
    cli_session *sessions; /* open sessions, closed by cli_rt_stop() */
    pid_t *children;     /* commands still running */
    size_t nchildren, capchildren;
    int tty_fd[2];       /* dups of a tty stdin/stdout, to restore their flags */
    int tty_flags[2];
} cli_rt;

/* Ignores SIGPIPE, makes sure fds 0-2 are open, creates the loop and the
 * signal watchers (SIGCHLD too when children is set). Returns 0 or -1
 * after printing. */
int cli_rt_init(cli_rt *rt, bool children);

/* Runs the loop until nothing is left; returns the exit code. */
int cli_rt_run(cli_rt *rt);

/* Stops the run (a fatal error or a signal): sets the exit code unless
 * one is set, calls on_stop, closes every session and terminates
 * children. Safe to call more than once. */
void cli_rt_stop(cli_rt *rt, int exit_code);

/* Frees the loop, restores the terminal's blocking mode. */
void cli_rt_fini(cli_rt *rt);

/* Starts cmd with its stdin and stdout on pipes (stderr is ours), and
 * wraps them as two connections: *from_cmd reads the command's stdout,
 * *to_cmd writes to its stdin. Returns 0, or -1 with the reason in err
 * (e.g. Cannot run "x": No such file or directory). */
int cli_spawn(cli_rt *rt, const cli_cmd *cmd, ax_conn **from_cmd, ax_conn **to_cmd,
              pid_t *pid, char *err, size_t errlen);

/* stdin as a read-only connection and stdout as a write-only one (pipes,
 * ttys, regular files and sockets alike). Returns 0 or -1 after printing. */
int cli_stdio_open(cli_rt *rt, ax_conn **in, ax_conn **out);

/* ------------------------------------------------------------ sessions */

/*
 * A session bridges sock with a local source (in: stdin, or a command's
 * stdout) and sink (out: stdout, or a command's stdin), with back-pressure
 * both ways and half-close: EOF on in ends sock's writing side (FIN), FIN
 * from the peer ends out (closes stdout / the command's stdin). It is over
 * when all three are closed. A failed sock closes in and flushes out; a
 * failed out is fatal when out_fatal (stdout), else only that direction
 * stops.
 */
typedef struct cli_session_opts {
    const char *in_name, *out_name; /* "stdin", "stdout", "command" */
    bool out_fatal;
    bool report;        /* print errors always (else only with -v) */
    uint32_t idle_ms;   /* close after this long without data; 0: never */
    pid_t child;        /* the command's pid, or 0 */
    void (*on_done)(cli_session *s, void *arg); /* may be NULL */
    void *arg;
} cli_session_opts;

/* Takes over the three connections (in and out may be NULL). Returns the
 * session or NULL (out of memory: all three are closed). */
cli_session *cli_session_start(cli_rt *rt, ax_conn *sock, ax_conn *in, ax_conn *out,
                               const cli_session_opts *o);

/* Bridges sock with a command (cmd != NULL: cli_spawn) or with stdio,
 * filling o's names (and child) first. Returns the session, or NULL after
 * printing why and closing sock. */
cli_session *cli_bridge(cli_rt *rt, ax_conn *sock, const cli_cmd *cmd, cli_session_opts *o);

/* 1 if the session ended with an error (reset, idle, stdout failure). */
int cli_session_failed(const cli_session *s);

/* For cli_rt_stop(): closes every connection of every open session. */
void cli__sessions_close(cli_rt *rt);

#endif
