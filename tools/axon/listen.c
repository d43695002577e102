/*
 * tools/axon/listen.c - `axon listen URI`: accept one client and bridge it
 * with stdin/stdout, or keep accepting (-k) and broadcast stdin to every
 * client; or serve each client with an echo, a chat room, or a command.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common.h"
#include "main.h"

/* A chat line longer than this is sent as a line of its own when the
 * buffer fills, so one client cannot make the server hold unbounded data. */
#define CHAT_LINE_MAX (16 * 1024)

static const char usage[] = "usage: axon listen [options] URI\n"
                            "Try 'axon listen --help' for more.\n";

static const char help[] =
    "usage: axon listen [options] URI\n"
    "\n"
    "Listens on URI, accepts one client and copies stdin to it and what it sends\n"
    "to stdout, with half-close both ways (EOF on stdin sends FIN, the client's\n"
    "FIN closes stdout); exits when both directions are done.\n"
    "\n"
    "URI: tcp://IP:PORT, IP:PORT, [IPv6]:PORT, unix:///path, unix://@abstract,\n"
    "     fd://N (an inherited listening socket)\n"
    "\n"
    "options:\n"
    "  -k, --keep-open          keep accepting clients: stdin goes to every\n"
    "                           client, what any client sends goes to stdout\n"
    "      --echo               send every client's bytes back to it (keeps open)\n"
    "      --chat               relay each client's lines to the other clients as\n"
    "                           \"[ADDRESS] line\" (keeps open)\n"
    "  -e, --exec CMD           run CMD (split on blanks, no shell) for each client\n"
    "                           with its stdin and stdout connected to the client\n"
    "  -c, --sh-exec CMD        the same with /bin/sh -c CMD\n"
    "  -m, --max-conns N        with -k, --echo, --chat: at most N clients at once;\n"
    "                           more are closed at once (logged with -v)\n"
    "  -i, --idle-timeout TIME  close a client after TIME without data\n"
    "      --stall-timeout TIME with -k, --chat: a client that is sent more than\n"
    "                           it reads pauses everyone (back-pressure); drop it\n"
    "                           if it takes none of its queue for TIME (10s)\n"
    "  -v, --verbose            log listening, connections and closes to stderr\n"
    "  -h, --help               this help\n"
    "\n"
    "TIME is seconds (2, 0.5) or a number with ms, s, m or h (500ms, 1m).\n"
    "Exit status: 0 done, 1 failed, 2 bad usage, 128+N stopped by signal N\n"
    "(SIGINT, SIGTERM: connections are closed and a Unix socket file removed).\n";

enum { OPT_ECHO = 256, OPT_CHAT, OPT_STALL };

#define DEFAULT_STALL_MS 10000

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {"verbose", no_argument, NULL, 'v'},
    {"keep-open", no_argument, NULL, 'k'},
    {"echo", no_argument, NULL, OPT_ECHO},
    {"chat", no_argument, NULL, OPT_CHAT},
    {"exec", required_argument, NULL, 'e'},
    {"sh-exec", required_argument, NULL, 'c'},
    {"max-conns", required_argument, NULL, 'm'},
    {"idle-timeout", required_argument, NULL, 'i'},
    {"stall-timeout", required_argument, NULL, OPT_STALL},
    {"wait", required_argument, NULL, 'w'},
    {NULL, 0, NULL, 0},
};

typedef enum { MODE_ONESHOT, MODE_HUB, MODE_ECHO, MODE_CHAT, MODE_EXEC } listen_mode;

typedef struct client client;
typedef struct listener listener;

struct client {
    client *prev, *next;
    listener *L;
    ax_conn *c;
    char label[CLI_LABEL_MAX];
    uint64_t bytes_in, bytes_out;
    uint64_t full_since;  /* when it last took bytes while full (loop ms) */
    size_t full_level;    /* its queue then */
    bool full;    /* its write queue is over the mark */
    bool paused;  /* we stopped reading it */
    char *line;   /* chat: the partial line so far */
    size_t llen, lcap;
};

struct listener {
    cli_rt rt;
    listen_mode mode;
    bool keep_open;
    cli_cmd cmd;
    uint32_t idle_ms;
    uint32_t stall_ms;   /* drop a full client that takes nothing this long */
    ax_timer *stall_check;
    size_t max_conns;
    ax_server *server;
    /* -k, --echo, --chat */
    client *clients;
    size_t nclients, nfull;
    /* -k: stdin broadcast to the clients, their bytes to stdout */
    ax_conn *in, *out;
    bool in_eof, in_paused, out_full;
    bool clients_paused; /* -k, --chat: every client's reading is paused */
};

/* --------------------------------------------------- flow control (hub) */

/* Reading goes on only while every destination keeps up: the clients
 * (-k, --chat) pause while stdout or any client is over its mark, stdin
 * (-k) while any client is, or while there is nobody to send it to. */
static void refresh(listener *L)
{
    if (L->mode == MODE_ECHO)
        return; /* each echo client minds its own queue */
    bool pause = L->mode == MODE_CHAT ? L->nfull > 0 : L->out_full;
    if (pause != L->clients_paused) {
        /* Only on a change of state, so a broadcast stays O(clients). */
        L->clients_paused = pause;
        for (client *cl = L->clients; cl; cl = cl->next) {
            cl->paused = pause;
            if (pause)
                ax_conn_pause(cl->c);
            else
                ax_conn_resume(cl->c);
        }
    }
    if (L->in) {
        bool in_read = L->nclients > 0 && L->nfull == 0;
        if (L->in_paused != !in_read) {
            L->in_paused = !in_read;
            if (L->in_paused)
                ax_conn_pause(L->in);
            else
                ax_conn_resume(L->in);
        }
    }
}

/* A client over its mark pauses the source for everyone (back-pressure),
 * so one that stops reading would stall the others for good: a client that
 * stays full without taking any of its queue for --stall-timeout is
 * dropped. A slow but working reader keeps taking bytes and is kept. */
static void mark_full(listener *L, client *cl)
{
    cl->full = true;
    L->nfull++;
    cl->full_since = ax_loop_now(L->rt.loop);
    cl->full_level = ax_conn_buffered(cl->c);
}

static void check_stalls(ax_timer *t, void *arg)
{
    (void)t;
    listener *L = arg;
    uint64_t now = ax_loop_now(L->rt.loop);
    for (client *cl = L->clients; cl; cl = cl->next) {
        if (!cl->full)
            continue;
        size_t q = ax_conn_buffered(cl->c);
        if (q < cl->full_level) {
            cl->full_level = q;
            cl->full_since = now;
        } else if (now - cl->full_since >= L->stall_ms) {
            cli_log("%s: took nothing of its %zu queued bytes for %" PRIu32 " ms: dropped",
                    cl->label, q, L->stall_ms);
            ax_conn_close(cl->c); /* its on_close resumes the others */
        }
    }
}

static void broadcast(listener *L, client *except, const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    for (client *cl = L->clients; cl; cl = cl->next) {
        if (cl == except)
            continue;
        int w = ax_conn_writev(cl->c, iov, n);
        if (w < 0)
            continue; /* ended or failing: its on_close is on the way */
        cl->bytes_out += total;
        if (w == 0 && !cl->full)
            mark_full(L, cl);
    }
}

/* ------------------------------------------------------------------ chat */

/* Sends "[label] " + the buffered part + p[0..n) (+ "\n") to the others. */
static void chat_line(client *cl, const char *p, size_t n, bool add_nl)
{
    char prefix[CLI_LABEL_MAX + 4];
    int plen = snprintf(prefix, sizeof prefix, "[%s] ", cl->label);
    struct iovec iov[4] = {
        {.iov_base = prefix, .iov_len = (size_t)plen},
        {.iov_base = cl->line, .iov_len = cl->llen},
        {.iov_base = (void *)(uintptr_t)p, .iov_len = n},
        {.iov_base = (void *)(uintptr_t)"\n", .iov_len = add_nl ? 1 : 0},
    };
    broadcast(cl->L, cl, iov, 4);
    cl->llen = 0;
}

static bool chat_keep(client *cl, const char *p, size_t n)
{
    if (cl->llen + n > cl->lcap) {
        size_t cap = cl->lcap ? cl->lcap : 256;
        while (cap < cl->llen + n)
            cap *= 2;
        char *b = realloc(cl->line, cap);
        if (!b)
            return false;
        cl->line = b;
        cl->lcap = cap;
    }
    memcpy(cl->line + cl->llen, p, n);
    cl->llen += n;
    return true;
}

static void chat_input(client *cl, const char *p, size_t len)
{
    while (len) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) + 1 : len;
        if (cl->llen + take > CHAT_LINE_MAX) {
            size_t k = CHAT_LINE_MAX - cl->llen;
            chat_line(cl, p, k, true);
            p += k;
            len -= k;
            continue;
        }
        if (!nl) {
            if (!chat_keep(cl, p, take)) {
                cli_err("%s: out of memory for a chat line", cl->label);
                ax_conn_close(cl->c);
            }
            return;
        }
        chat_line(cl, p, take, false);
        p += take;
        len -= take;
    }
}

/* --------------------------------------------------------------- clients */

static void client_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    client *cl = arg;
    listener *L = cl->L;
    cl->bytes_in += len;
    switch (L->mode) {
    case MODE_ECHO: {
        int w = ax_conn_write(c, data, len);
        if (w >= 0)
            cl->bytes_out += len;
        if (w == 0) {
            /* Stop reading it until its own queue drains. */
            cl->full = cl->paused = true;
            ax_conn_pause(c);
        }
        return;
    }
    case MODE_CHAT:
        chat_input(cl, data, len);
        break;
    default:
        if (L->out && ax_conn_write(L->out, data, len) == 0)
            L->out_full = true;
        break;
    }
    refresh(L);
}

static void client_end(ax_conn *c, void *arg)
{
    client *cl = arg;
    listener *L = cl->L;
    /* The client is done sending. Echo: finish echoing, then FIN. Chat: a
     * last partial line still goes out; the client keeps receiving. -k:
     * it keeps receiving stdin until stdin ends. */
    if (L->mode == MODE_ECHO || (L->mode == MODE_HUB && L->in_eof))
        ax_conn_end(c);
    else if (L->mode == MODE_CHAT && cl->llen)
        chat_line(cl, NULL, 0, true);
    refresh(L);
}

static void client_drain(ax_conn *c, void *arg)
{
    client *cl = arg;
    if (cl->L->mode == MODE_ECHO) {
        if (cl->paused) {
            cl->full = cl->paused = false;
            ax_conn_resume(c);
        }
        return;
    }
    if (cl->full) {
        cl->full = false;
        cl->L->nfull--;
    }
    refresh(cl->L);
}

static void client_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    client *cl = arg;
    cli_log("%s: %s", cl->label, err->message);
}

static void client_close(ax_conn *c, void *arg)
{
    (void)c;
    client *cl = arg;
    listener *L = cl->L;
    cli_log("%s closed: %" PRIu64 " bytes in, %" PRIu64 " bytes out", cl->label, cl->bytes_in,
            cl->bytes_out);
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        L->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    L->nclients--;
    if (cl->full && L->mode != MODE_ECHO)
        L->nfull--;
    free(cl->line);
    free(cl);
    refresh(L);
}

static const ax_conn_events client_ev = {
    .on_data = client_data,
    .on_end = client_end,
    .on_drain = client_drain,
    .on_error = client_error,
    .on_close = client_close,
};

static void add_client(listener *L, ax_conn *c, const char *label)
{
    client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        cli_err("%s: out of memory", label);
        ax_conn_close(c);
        return;
    }
    cl->L = L;
    cl->c = c;
    snprintf(cl->label, sizeof cl->label, "%s", label);
    cl->next = L->clients;
    if (cl->next)
        cl->next->prev = cl;
    L->clients = cl;
    L->nclients++;
    ax_conn_set_events(c, &client_ev, cl);
    if (L->clients_paused && L->mode != MODE_ECHO) {
        cl->paused = true;
        ax_conn_pause(c);
    }
    if (L->mode == MODE_HUB && L->in_eof)
        ax_conn_end(c); /* stdin is over: nothing will come */
    refresh(L);
}

/* ------------------------------------------------------- -k: stdin/stdout */

static void hub_in_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)c;
    listener *L = arg;
    struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
    broadcast(L, NULL, &iov, 1);
    refresh(L);
}

static void hub_in_end(ax_conn *c, void *arg)
{
    (void)c;
    listener *L = arg;
    L->in_eof = true;
    for (client *cl = L->clients; cl; cl = cl->next)
        ax_conn_end(cl->c);
}

static void hub_in_error(ax_conn *c, const ax_error *err, void *arg)
{
    cli_err("stdin: %s", err->message);
    ((listener *)arg)->rt.exit_code = CLI_FAIL;
    hub_in_end(c, arg);
}

static void hub_in_close(ax_conn *c, void *arg)
{
    (void)c;
    ((listener *)arg)->in = NULL;
}

static void hub_out_drain(ax_conn *c, void *arg)
{
    (void)c;
    listener *L = arg;
    L->out_full = false;
    refresh(L);
}

static void hub_out_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    listener *L = arg;
    cli_err("stdout: %s", err->message);
    cli_rt_stop(&L->rt, CLI_FAIL);
}

static void hub_out_close(ax_conn *c, void *arg)
{
    (void)c;
    listener *L = arg;
    L->out = NULL;
    L->out_full = false;
    refresh(L);
}

static const ax_conn_events hub_in_ev = {
    .on_data = hub_in_data,
    .on_end = hub_in_end,
    .on_error = hub_in_error,
    .on_close = hub_in_close,
};

static const ax_conn_events hub_out_ev = {
    .on_drain = hub_out_drain,
    .on_error = hub_out_error,
    .on_close = hub_out_close,
};

/* ------------------------------------------------------------ the server */

static void session_done(cli_session *s, void *arg)
{
    listener *L = arg;
    if (!L->keep_open && cli_session_failed(s) && !L->rt.exit_code)
        L->rt.exit_code = CLI_FAIL;
}

/* One client bridged with stdio or a command. */
static void start_session(listener *L, ax_conn *c)
{
    cli_session_opts o = {.report = !L->keep_open,
                          .idle_ms = L->keep_open ? 0 : L->idle_ms,
                          .on_done = session_done,
                          .arg = L};
    /* With -k a failed client is logged and the server goes on. */
    if (!cli_bridge(&L->rt, c, L->mode == MODE_EXEC ? &L->cmd : NULL, &o) && !L->keep_open)
        L->rt.exit_code = CLI_FAIL;
}

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    listener *L = arg;
    char label[CLI_LABEL_MAX];
    cli_log("connection from %s", cli_conn_label(c, label, sizeof label));
    if (!L->keep_open) {
        /* One client only: stop listening, as ncat does without -k. */
        ax_server_close(s);
        L->server = NULL;
    }
    if (L->mode == MODE_ONESHOT || L->mode == MODE_EXEC)
        start_session(L, c);
    else
        add_client(L, c, label);
}

static void on_server_error(ax_server *s, const ax_error *err, void *arg)
{
    (void)s;
    (void)arg;
    if (err->code == AX_ECONNABORTED)
        cli_log("%s", err->message); /* a client over --max-conns */
    else
        cli_err("%s", err->message);
}

static void on_stop(void *arg)
{
    listener *L = arg;
    if (L->server) {
        ax_server_close(L->server);
        L->server = NULL;
    }
    for (client *cl = L->clients; cl; cl = cl->next)
        ax_conn_close(cl->c);
    if (L->in)
        ax_conn_close(L->in);
    if (L->out)
        ax_conn_close(L->out);
}

static int parse(listener *L, int argc, char **argv, const char **uri)
{
    const char *exec_text = NULL;
    bool shell = false;
    int ch, li = -1, modes = 0;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":hvke:c:m:i:w:", options, &li)) != -1) {
        switch (ch) {
        case 'h':
            fputs(help, stdout);
            return CLI_OK;
        case 'v':
            cli_verbose = true;
            break;
        case 'k':
            L->keep_open = true;
            break;
        case OPT_ECHO:
            L->mode = MODE_ECHO;
            modes++;
            break;
        case OPT_CHAT:
            L->mode = MODE_CHAT;
            modes++;
            break;
        case 'e':
        case 'c':
            exec_text = optarg;
            shell = ch == 'c';
            L->mode = MODE_EXEC;
            modes++;
            break;
        case 'm':
            if (cli_parse_count("--max-conns", optarg, &L->max_conns) < 0)
                return CLI_USAGE;
            break;
        case 'i':
            if (cli_parse_time("--idle-timeout", optarg, &L->idle_ms) < 0)
                return CLI_USAGE;
            break;
        case OPT_STALL:
            if (cli_parse_time("--stall-timeout", optarg, &L->stall_ms) < 0)
                return CLI_USAGE;
            break;
        case 'w':
            if (li >= 0)
                return cli_usage_error(usage, "option --%s is for axon connect", options[li].name);
            return cli_usage_error(usage, "option -%c is for axon connect", ch);
        default:
            return cli_bad_option(usage, ch, argv);
        }
        li = -1;
    }
    if (modes > 1)
        return cli_usage_error(usage, "give only one of --echo, --chat, --exec, --sh-exec");
    if (optind == argc)
        return cli_usage_error(usage, "listen: missing URI");
    if (optind + 1 < argc)
        return cli_usage_error(usage, "listen: unexpected argument \"%s\"", argv[optind + 1]);
    *uri = argv[optind];
    ax_uri u;
    if (cli_check_uri(*uri, &u) < 0)
        return CLI_USAGE;
    if (L->mode == MODE_ECHO || L->mode == MODE_CHAT)
        L->keep_open = true;
    else if (L->mode != MODE_EXEC)
        L->mode = L->keep_open ? MODE_HUB : MODE_ONESHOT;
    if (L->stall_ms && L->mode != MODE_HUB && L->mode != MODE_CHAT)
        return cli_usage_error(usage, "--stall-timeout is for -k (without a command) and --chat");
    if (exec_text && cli_cmd_init(&L->cmd, exec_text, shell) < 0)
        return CLI_USAGE;
    return -1; /* go on */
}

int cli_listen_main(int argc, char **argv)
{
    listener L;
    memset(&L, 0, sizeof L);
    const char *uri = NULL;
    int rc = parse(&L, argc, argv, &uri);
    if (rc >= 0) {
        cli_cmd_free(&L.cmd);
        return rc;
    }
    rc = CLI_FAIL;
    if (cli_rt_init(&L.rt, L.mode == MODE_EXEC) < 0)
        goto out;
    L.rt.on_stop = on_stop;
    L.rt.stop_arg = &L;
    ax_server_opts so = {
        .on_connection = on_connection,
        .on_error = on_server_error,
        .arg = &L,
        .unlink_stale = true,
        /* Limits apply where the server keeps accepting. */
        .max_connections = L.keep_open ? L.max_conns : 0,
        .idle_timeout_ms = L.keep_open ? L.idle_ms : 0,
    };
    if (ax_server_listen(L.rt.loop, uri, &so, &L.server) < 0) {
        cli_err("%s", ax_last_error()->message);
        goto out;
    }
    cli_log("listening on %s", ax_server_address(L.server));
    if (L.mode == MODE_HUB || L.mode == MODE_CHAT) {
        if (!L.stall_ms)
            L.stall_ms = DEFAULT_STALL_MS;
        uint64_t every = L.stall_ms < 4000 ? L.stall_ms / 4 + 1 : 1000;
        L.stall_check = ax_timer_start(L.rt.loop, every, every, check_stalls, &L);
        if (!L.stall_check) {
            cli_err("%s", ax_last_error()->message);
            goto out;
        }
        ax_timer_set_ref(L.stall_check, 0);
    }
    if (L.mode == MODE_HUB) {
        if (cli_stdio_open(&L.rt, &L.in, &L.out) < 0)
            goto out;
        ax_conn_set_events(L.in, &hub_in_ev, &L);
        ax_conn_set_events(L.out, &hub_out_ev, &L);
        refresh(&L); /* stdin waits for the first client */
    }
    rc = cli_rt_run(&L.rt);
out:
    cli_rt_fini(&L.rt);
    cli_cmd_free(&L.cmd);
    return rc;
}
