/*
 * 10-chat-demo: the event-driven layer in one scripted run (what `make demo`
 * shows). A chat server and two clients share one loop: the clients
 * connect with ax_connect(), say their lines on timers, the server
 * broadcasts each line to the other client prefixed with the sender's
 * address, and everything shuts down cleanly: clients end (half-close),
 * the server sees the end, closes, and the loop runs out of work.
 *
 *   10-chat-demo [listen-uri]       default tcp://127.0.0.1:0
 */
#include <axon.h>
#include <stdio.h>
#include <string.h>

typedef struct member {
    const char *name;
    ax_conn *conn;               /* client side */
    const char *const *script;   /* lines to say, NULL-terminated */
    size_t next;
} member;

typedef struct room {
    ax_conn *peers[2];           /* server side of each client */
    size_t npeers;
    ax_server *server;
} room;

static room the_room;

/* ---- server side: broadcast whatever one peer says to the others ---- */

static void server_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)arg;
    const char *from = ax_conn_remote_address(c);
    for (size_t i = 0; i < the_room.npeers; i++) {
        ax_conn *p = the_room.peers[i];
        if (p == c || !p)
            continue;
        /* Three pieces, one writev: no copy, and the line stays whole. */
        struct iovec v[3] = {{(void *)(uintptr_t)from, strlen(from)}, {(void *)": ", 2},
                             {(void *)(uintptr_t)data, len}};
        ax_conn_writev(p, v, 3);
    }
}

static void server_close(ax_conn *c, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < the_room.npeers; i++)
        if (the_room.peers[i] == c)
            the_room.peers[i] = NULL;
    size_t left = ax_server_connection_count(the_room.server);
    printf("server: a client left, %zu still connected\n", left);
    /* When the last client is gone the demo is over: closing the server
     * leaves the loop with nothing to do, so ax_loop_run() returns. */
    if (left == 0) {
        ax_server_close(the_room.server);
        the_room.server = NULL;
    }
}

static const ax_conn_events server_events = {.on_data = server_data, .on_close = server_close};

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    printf("server: %s joined\n", ax_conn_remote_address(c));
    the_room.peers[the_room.npeers++] = c;
    ax_conn_set_events(c, &server_events, NULL);
}

static void on_server_error(ax_server *s, const ax_error *err, void *arg)
{
    (void)s;
    (void)arg;
    printf("server error: %s\n", err->message);
}

/* ---- client side: say the script on a timer, print what arrives ---- */

static void client_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)c;
    member *m = arg;
    printf("%s hears: %.*s", m->name, (int)len, (const char *)data);
}

static void client_close(ax_conn *c, void *arg)
{
    (void)c;
    member *m = arg;
    printf("%s: disconnected\n", m->name);
    m->conn = NULL;
}

static const ax_conn_events client_events = {.on_data = client_data, .on_close = client_close};

static void speak(ax_timer *t, void *arg)
{
    member *m = arg;
    const char *line = m->script[m->next++];
    if (!line) {
        printf("%s: done talking, ending the connection\n", m->name);
        ax_conn_end(m->conn); /* FIN: the server's default is to end too */
        ax_timer_stop(t);
        return;
    }
    printf("%s says: %s", m->name, line);
    ax_conn_write(m->conn, line, strlen(line));
}

static void connected(ax_conn *c, const ax_error *err, void *arg)
{
    member *m = arg;
    if (err) {
        printf("%s: %s\n", m->name, err->message);
        return;
    }
    m->conn = c;
    ax_conn_set_events(c, &client_events, m);
    printf("%s: connected from %s\n", m->name, ax_conn_local_address(c));
    /* Alice speaks at 50 ms, 250 ms, ...; Bob at 150 ms, 350 ms, ... */
    ax_timer_start(ax_conn_loop(c), m->name[0] == 'a' ? 50 : 150, 200, speak, m);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    ax_loop *loop = ax_loop_new(NULL);
    if (!loop) {
        fprintf(stderr, "demo: %s\n", ax_last_error()->message);
        return 1;
    }
    ax_server_opts o = {.on_connection = on_connection, .on_error = on_server_error};
    if (ax_server_listen(loop, argc > 1 ? argv[1] : "tcp://127.0.0.1:0", &o, &the_room.server) <
        0) {
        fprintf(stderr, "demo: %s\n", ax_last_error()->message);
        ax_loop_free(loop);
        return 1;
    }
    printf("axon %s event-loop demo on %s (backend %s)\n", ax_version_string(),
           ax_server_address(the_room.server), ax_loop_backend(loop));

    static const char *const alice_lines[] = {"hi bob\n", "how is the event loop?\n", NULL};
    static const char *const bob_lines[] = {"hello alice\n", "no busy loops here\n", NULL};
    member alice = {.name = "alice", .script = alice_lines};
    member bob = {.name = "bob", .script = bob_lines};
    const char *addr = ax_server_address(the_room.server);
    if (!ax_connect(loop, addr, NULL, connected, &alice) ||
        !ax_connect(loop, addr, NULL, connected, &bob)) {
        fprintf(stderr, "demo: %s\n", ax_last_error()->message);
        ax_loop_free(loop);
        return 1;
    }

    /* A connection refused, reported the ReactPHP way. */
    ax_connect(loop, "tcp://127.0.0.1:1", NULL, connected, &(member){.name = "carol"});

    ax_loop_run(loop);
    ax_loop_free(loop);
    printf("demo: the loop ran out of work; bye\n");
    return 0;
}
