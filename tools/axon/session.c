/*
 * tools/axon/session.c - one socket bridged with a local source and sink.
 *
 * Bytes are forwarded with on_data -> ax_conn_write(), pausing the source
 * when the destination's queue is over its mark and resuming it on drain:
 * the same back-pressure contract as ax_conn_pipe(), done here because -v
 * reports the bytes moved each way and --idle-timeout needs to see them
 * move, and a library pipe shows neither.
 */
#include "common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_session {
    cli_rt *rt;
    cli_session *prev, *next; /* rt->sessions */
    ax_conn *sock, *in, *out;
    cli_session_opts o;
    char label[CLI_LABEL_MAX];
    uint64_t bytes_in, bytes_out; /* from the peer, to the peer */
    uint64_t last_active;
    ax_timer *idle;
    bool failed, sock_paused, in_paused;
};

static void report(cli_session *s, const char *who, const char *msg)
{
    if (s->o.report)
        cli_err("%s: %s", who, msg);
    else
        cli_log("%s: %s", who, msg);
}

static void touch(cli_session *s)
{
    s->last_active = ax_loop_now(s->rt->loop);
}

/* All three connections are gone: the session is over. */
static void maybe_done(cli_session *s)
{
    if (s->sock || s->in || s->out)
        return;
    if (s->idle)
        ax_timer_stop(s->idle);
    if (s->prev)
        s->prev->next = s->next;
    else
        s->rt->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->o.on_done)
        s->o.on_done(s, s->o.arg);
    free(s);
}

/* ------------------------------------------------------------- the socket */

static void sock_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    cli_session *s = arg;
    s->bytes_in += len;
    touch(s);
    if (s->out && ax_conn_write(s->out, data, len) == 0) {
        ax_conn_pause(c);
        s->sock_paused = true;
    }
    /* Without a sink (it failed) the bytes are read and dropped, so the
     * peer is not stalled and its FIN still arrives. */
}

static void sock_end(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    if (s->out)
        ax_conn_end(s->out);
}

static void sock_drain(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    if (s->in_paused && s->in) {
        s->in_paused = false;
        ax_conn_resume(s->in);
    }
}

static void sock_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    cli_session *s = arg;
    s->failed = true;
    report(s, s->label, err->message);
}

static void sock_close(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    s->sock = NULL;
    cli_log("%s closed: %" PRIu64 " bytes in, %" PRIu64 " bytes out", s->label, s->bytes_in,
            s->bytes_out);
    /* Nothing more can be sent: stop reading the source. What the peer
     * sent is still flushed to the sink, which then closes. */
    if (s->in)
        ax_conn_close(s->in);
    if (s->out)
        ax_conn_end(s->out);
    maybe_done(s);
}

static const ax_conn_events sock_ev = {
    .on_data = sock_data,
    .on_end = sock_end,
    .on_drain = sock_drain,
    .on_error = sock_error,
    .on_close = sock_close,
};

/* ------------------------------------------------------------- the source */

static void in_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    cli_session *s = arg;
    s->bytes_out += len;
    touch(s);
    if (s->sock && ax_conn_write(s->sock, data, len) == 0) {
        ax_conn_pause(c);
        s->in_paused = true;
    }
}

static void in_end(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    /* Half-close: the peer sees EOF and may still answer. */
    if (s->sock)
        ax_conn_end(s->sock);
}

static void in_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    cli_session *s = arg;
    s->failed = true;
    report(s, s->o.in_name, err->message);
    if (s->sock)
        ax_conn_end(s->sock);
}

static void in_close(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    s->in = NULL;
    maybe_done(s);
}

static const ax_conn_events in_ev = {
    .on_data = in_data,
    .on_end = in_end,
    .on_error = in_error,
    .on_close = in_close,
};

/* --------------------------------------------------------------- the sink */

static void out_drain(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    if (s->sock_paused && s->sock) {
        s->sock_paused = false;
        ax_conn_resume(s->sock);
    }
}

static void out_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    cli_session *s = arg;
    if (!s->o.out_fatal) {
        /* A command that stopped reading its stdin: that direction is
         * over, its output may still come. */
        cli_log("%s: %s", s->o.out_name, err->message);
        return;
    }
    s->failed = true;
    report(s, s->o.out_name, err->message);
    if (s->sock)
        ax_conn_close(s->sock);
    if (s->in)
        ax_conn_close(s->in);
}

static void out_close(ax_conn *c, void *arg)
{
    (void)c;
    cli_session *s = arg;
    s->out = NULL;
    if (s->sock_paused && s->sock) {
        s->sock_paused = false;
        ax_conn_resume(s->sock);
    }
    maybe_done(s);
}

static const ax_conn_events out_ev = {
    .on_drain = out_drain,
    .on_error = out_error,
    .on_close = out_close,
};

/* ----------------------------------------------------------- idle timeout */

static void idle_check(ax_timer *t, void *arg)
{
    cli_session *s = arg;
    uint64_t idle = ax_loop_now(s->rt->loop) - s->last_active;
    if (idle < s->o.idle_ms) {
        ax_timer_again(t, s->o.idle_ms - idle, 0);
        return;
    }
    s->failed = true; /* the timer stays (inactive) until the session ends */
    char msg[128];
    snprintf(msg, sizeof msg, "Connection idle for %" PRIu32 " ms closed (ETIMEDOUT)",
             s->o.idle_ms);
    report(s, s->label, msg);
    if (s->sock) {
        ax_conn_close(s->sock);
    } else {
        if (s->in)
            ax_conn_close(s->in);
        if (s->out)
            ax_conn_close(s->out);
    }
}

/* ----------------------------------------------------------------- public */

cli_session *cli_session_start(cli_rt *rt, ax_conn *sock, ax_conn *in, ax_conn *out,
                               const cli_session_opts *o)
{
    cli_session *s = calloc(1, sizeof *s);
    if (s && o->idle_ms) {
        s->idle = ax_timer_start(rt->loop, o->idle_ms, 0, idle_check, s);
        if (!s->idle) {
            free(s);
            s = NULL;
        }
    }
    if (!s) {
        cli_err("out of memory");
        ax_conn_close(sock);
        if (in)
            ax_conn_close(in);
        if (out)
            ax_conn_close(out);
        return NULL;
    }
    s->rt = rt;
    s->o = *o;
    s->sock = sock;
    s->in = in;
    s->out = out;
    cli_conn_label(sock, s->label, sizeof s->label);
    touch(s);
    s->next = rt->sessions;
    if (s->next)
        s->next->prev = s;
    rt->sessions = s;
    ax_conn_set_events(sock, &sock_ev, s);
    if (in)
        ax_conn_set_events(in, &in_ev, s);
    if (out)
        ax_conn_set_events(out, &out_ev, s);
    return s;
}

int cli_session_failed(const cli_session *s)
{
    return s->failed;
}

void cli__sessions_close(cli_rt *rt)
{
    /* Closing defers every on_close, so the list stays put meanwhile. */
    for (cli_session *s = rt->sessions; s; s = s->next) {
        if (s->sock)
            ax_conn_close(s->sock);
        if (s->in)
            ax_conn_close(s->in);
        if (s->out)
            ax_conn_close(s->out);
    }
}

cli_session *cli_bridge(cli_rt *rt, ax_conn *sock, const cli_cmd *cmd, cli_session_opts *o)
{
    ax_conn *in, *out;
    if (cmd) {
        char msg[AX_ERROR_MAX];
        if (cli_spawn(rt, cmd, &in, &out, &o->child, msg, sizeof msg) < 0) {
            cli_err("%s", msg);
            ax_conn_close(sock);
            return NULL;
        }
        cli_log("running \"%s\" (pid %ld)", cmd->text, (long)o->child);
        o->in_name = o->out_name = "command";
    } else {
        if (cli_stdio_open(rt, &in, &out) < 0) {
            ax_conn_close(sock);
            return NULL;
        }
        o->in_name = "stdin";
        o->out_name = "stdout";
        o->out_fatal = true;
    }
    return cli_session_start(rt, sock, in, out, o);
}
