/*
 * tools/axon/connect.c - `axon connect URI`: connect, then bridge the
 * connection with stdin/stdout or with a command (--exec, --sh-exec).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "main.h"

static const char usage[] = "usage: axon connect [options] URI\n"
                            "Try 'axon connect --help' for more.\n";

static const char help[] =
    "usage: axon connect [options] URI\n"
    "\n"
    "Connects to URI and copies stdin to the connection and the connection to\n"
    "stdout. EOF on stdin half-closes the connection (the peer sees EOF and may\n"
    "still answer); the peer's EOF closes stdout. axon exits when both\n"
    "directions are done.\n"
    "\n"
    "URI: tcp://IP:PORT, IP:PORT, [IPv6]:PORT, unix:///path, unix://@abstract\n"
    "     (hostnames need the resolver, which comes in a later release)\n"
    "\n"
    "options:\n"
    "  -e, --exec CMD           run CMD (split on blanks, no shell) with its\n"
    "                           stdin and stdout connected to the connection\n"
    "  -c, --sh-exec CMD        the same with /bin/sh -c CMD\n"
    "  -w, --wait TIME          give up connecting after TIME (default 60s)\n"
    "  -i, --idle-timeout TIME  close after TIME without data either way\n"
    "  -v, --verbose            log the connection to stderr\n"
    "  -h, --help               this help\n"
    "\n"
    "TIME is seconds (2, 0.5) or a number with ms, s, m or h (500ms, 1m).\n"
    "Exit status: 0 done, 1 failed (refused, reset, timed out), 2 bad usage,\n"
    "128+N stopped by signal N.\n";

enum { OPT_LISTEN_ONLY = 256 };

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {"verbose", no_argument, NULL, 'v'},
    {"exec", required_argument, NULL, 'e'},
    {"sh-exec", required_argument, NULL, 'c'},
    {"wait", required_argument, NULL, 'w'},
    {"idle-timeout", required_argument, NULL, 'i'},
    /* listen's options, named for a clear message */
    {"keep-open", no_argument, NULL, 'k'},
    {"echo", no_argument, NULL, OPT_LISTEN_ONLY},
    {"chat", no_argument, NULL, OPT_LISTEN_ONLY},
    {"max-conns", required_argument, NULL, 'm'},
    {NULL, 0, NULL, 0},
};

typedef struct connector {
    cli_rt rt;
    ax_connect_req *req;
    cli_cmd cmd;
    bool exec;
    uint32_t idle_ms;
} connector;

static void session_done(cli_session *s, void *arg)
{
    connector *k = arg;
    if (cli_session_failed(s) && !k->rt.exit_code)
        k->rt.exit_code = CLI_FAIL;
}

static void on_connected(ax_conn *c, const ax_error *err, void *arg)
{
    connector *k = arg;
    k->req = NULL;
    if (err && err->code == AX_ECANCELED)
        return; /* stopped by a signal while connecting: said by on_signal */
    if (err) {
        cli_err("%s", err->message);
        k->rt.exit_code = CLI_FAIL;
        return;
    }
    char label[CLI_LABEL_MAX];
    cli_log("connected to %s", cli_conn_label(c, label, sizeof label));
    cli_session_opts o = {.report = true, .idle_ms = k->idle_ms, .on_done = session_done,
                          .arg = k};
    if (!cli_bridge(&k->rt, c, k->exec ? &k->cmd : NULL, &o))
        k->rt.exit_code = CLI_FAIL;
}

static void on_stop(void *arg)
{
    connector *k = arg;
    if (k->req) {
        ax_connect_cancel(k->req);
        k->req = NULL;
    }
}

int cli_connect_main(int argc, char **argv)
{
    connector k;
    memset(&k, 0, sizeof k);
    const char *exec_text = NULL;
    bool shell = false;
    uint32_t wait_ms = 0;
    int ch, li = -1;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":hve:c:w:i:km:", options, &li)) != -1) {
        switch (ch) {
        case 'h':
            fputs(help, stdout);
            return CLI_OK;
        case 'v':
            cli_verbose = true;
            break;
        case 'e':
        case 'c':
            if (exec_text)
                return cli_usage_error(usage, "give one of --exec and --sh-exec, once");
            exec_text = optarg;
            shell = ch == 'c';
            break;
        case 'w':
            if (cli_parse_time("--wait", optarg, &wait_ms) < 0)
                return CLI_USAGE;
            break;
        case 'i':
            if (cli_parse_time("--idle-timeout", optarg, &k.idle_ms) < 0)
                return CLI_USAGE;
            break;
        case 'k':
        case 'm':
        case OPT_LISTEN_ONLY:
            if (li >= 0)
                return cli_usage_error(usage, "option --%s is for axon listen", options[li].name);
            return cli_usage_error(usage, "option -%c is for axon listen", ch);
        default:
            return cli_bad_option(usage, ch, argv);
        }
        li = -1;
    }
    if (optind == argc)
        return cli_usage_error(usage, "connect: missing URI");
    if (optind + 1 < argc)
        return cli_usage_error(usage, "connect: unexpected argument \"%s\"", argv[optind + 1]);
    const char *uri = argv[optind];
    ax_uri u;
    if (cli_check_uri(uri, &u) < 0)
        return CLI_USAGE;
    if (exec_text) {
        if (cli_cmd_init(&k.cmd, exec_text, shell) < 0)
            return CLI_USAGE;
        k.exec = true;
    }
    int rc = CLI_FAIL;
    if (cli_rt_init(&k.rt, k.exec) < 0)
        goto out;
    k.rt.on_stop = on_stop;
    k.rt.stop_arg = &k;
    ax_connect_opts co = {.timeout_ms = (int)wait_ms};
    k.req = ax_connect(k.rt.loop, uri, &co, on_connected, &k);
    if (!k.req) {
        cli_err("%s", ax_last_error()->message);
        goto out;
    }
    rc = cli_rt_run(&k.rt);
out:
    cli_rt_fini(&k.rt);
    cli_cmd_free(&k.cmd);
    return rc;
}
