/*
 * The axon command-line tool as a whole: help, version, usage errors and
 * bad values (exit status 2), messages (one printable line each), signals
 * and a stdout that goes away. listen and connect have their own files
 * (test_cli_listen.c, test_cli_connect.c); helpers are in
 * tests/lib/axt_cli.h.
 */
#include "axt_cli.h"

/* ----------------------------------------------------------- usage, errors */

TEST(help_and_version)
{
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "--help", NULL), 0);
    CHECK(strstr(buf_str(&out), "usage: axon COMMAND [options] URI"));
    CHECK(strstr(buf_str(&out), "listen URI"));
    CHECK(strstr(buf_str(&out), "connect URI"));
    out.n = 0;
    CHECK_EQ(run_axon(&out, &p, "listen", "--help", NULL), 0);
    static const char *const listen_flags[] = {"--keep-open", "--echo",         "--chat",
                                               "--exec",      "--sh-exec",      "--max-conns",
                                               "--idle-timeout", "--verbose",   "fd://N",
                                               "--stall-timeout"};
    for (size_t i = 0; i < sizeof listen_flags / sizeof listen_flags[0]; i++)
        if (!strstr(buf_str(&out), listen_flags[i]))
            axt_fail(__FILE__, __LINE__, "listen --help lacks %s", listen_flags[i]);
    out.n = 0;
    CHECK_EQ(run_axon(&out, &p, "connect", "-h", NULL), 0);
    static const char *const connect_flags[] = {"--wait", "--exec", "--sh-exec",
                                                "--idle-timeout", "--verbose"};
    for (size_t i = 0; i < sizeof connect_flags / sizeof connect_flags[0]; i++)
        if (!strstr(buf_str(&out), connect_flags[i]))
            axt_fail(__FILE__, __LINE__, "connect --help lacks %s", connect_flags[i]);
    out.n = 0;
    CHECK_EQ(run_axon(&out, &p, "help", "connect", NULL), 0);
    CHECK(strstr(buf_str(&out), "usage: axon connect [options] URI"));
    out.n = 0;
    CHECK_EQ(run_axon(&out, &p, "--version", NULL), 0);
    CHECK(strncmp(buf_str(&out), "axon 0.1.0 (libaxon ", 20) == 0);
    CHECK_STR(buf_str(&p.errb), "");
}

/* Exit 2 with "axon: <what>" and the short usage on stderr. */
static void expect_usage(const char *want, ...)
{
    const char *args[8] = {0};
    va_list ap;
    va_start(ap, want);
    for (size_t i = 0; i < 7; i++)
        if ((args[i] = va_arg(ap, const char *)) == NULL)
            break;
    va_end(ap);
    buf out = {0};
    proc p;
    int code = run_axon(&out, &p, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                        NULL);
    if (code != 2 || strncmp(buf_str(&p.errb), want, strlen(want)) != 0 ||
        !strstr(buf_str(&p.errb), "usage: axon"))
        axt_fail(__FILE__, __LINE__, "exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code,
                 buf_str(&p.errb), want);
    CHECK_EQ(out.n, 0);
}

TEST(usage_errors_exit_2)
{
    expect_usage("axon: missing command\n", NULL);
    expect_usage("axon: unknown command \"frob\"\n", "frob", NULL);
    expect_usage("axon: unknown option --bogus\n", "listen", "--bogus", "tcp://127.0.0.1:0",
                 NULL);
    expect_usage("axon: unknown option --bogus\n", "--bogus", NULL);
    expect_usage("axon: unknown option -x\n", "connect", "-x", "tcp://127.0.0.1:1", NULL);
    expect_usage("axon: connect: missing URI\n", "connect", "-v", NULL);
    expect_usage("axon: listen: unexpected argument \"b\"\n", "listen", "a:1", "b", NULL);
    expect_usage("axon: option --exec needs a value\n", "connect", "tcp://127.0.0.1:1", "--exec",
                 NULL);
    expect_usage("axon: option -k is for axon listen\n", "connect", "-k", "tcp://127.0.0.1:1",
                 NULL);
    expect_usage("axon: option --wait is for axon connect\n", "listen", "--wait=2",
                 "tcp://127.0.0.1:0", NULL);
    expect_usage("axon: give only one of --echo, --chat, --exec, --sh-exec\n", "listen", "--echo",
                 "--chat", "tcp://127.0.0.1:0", NULL);
}

/* Bad values are command-line errors too, named precisely, no usage. */
TEST(bad_values_exit_2)
{
    static const struct {
        const char *args[4];
        const char *want;
    } cases[] = {
        {{"listen", "-i", "abc", "tcp://127.0.0.1:0"},
         "axon: invalid value for --idle-timeout: \"abc\": want seconds, or a number with ms, s, "
         "m or h\n"},
        {{"connect", "-w", "0", "tcp://127.0.0.1:1"},
         "axon: invalid value for --wait: \"0\": must be between 1 ms and 2147483 s\n"},
        {{"listen", "--max-conns", "0", "tcp://127.0.0.1:0"},
         "axon: invalid value for --max-conns: \"0\": want a number from 1 to 1000000\n"},
        {{"listen", "--exec", " ", "tcp://127.0.0.1:0"}, "axon: the command for --exec is empty\n"},
        {{"connect", "tcp://[::1", NULL, NULL},
         "axon: Invalid URI \"tcp://[::1\" given: missing \"]\" after IPv6 address (EINVAL)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf out = {0};
        proc p;
        int code = run_axon(&out, &p, cases[i].args[0], cases[i].args[1], cases[i].args[2],
                            cases[i].args[3], NULL);
        CHECK_EQ(code, 2);
        CHECK_STR(buf_str(&p.errb), cases[i].want);
    }
    /* A port out of range, in listen. */
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "listen", "tcp://127.0.0.1:99999", NULL), 2);
    CHECK(strncmp(buf_str(&p.errb), "axon: Invalid URI \"tcp://127.0.0.1:99999\" given: ", 49) ==
          0);
}

/* A path with control bytes cannot forge a log line: every message the
 * tool prints stays one line, the bytes shown as \xNN. */
TEST(messages_escape_control_bytes_in_paths)
{
    char uri[300];
    snprintf(uri, sizeof uri, "unix://%s/x\n" "axon: forged \x1b" "[2J", axt_tmpdir());
    proc ax = axon(NUL, NUL, PIPE, "listen", "-v", uri, (const char *)NULL);
    const char *l = expect_err(&ax, "axon: listening on ", ms(5000));
    CHECK(strstr(l, "/x\\x0aaxon: forged \\x1b[2J"));
    kill(ax.pid, SIGTERM);
    finish(&ax, ms(5000));
    CHECK(!strstr(buf_str(&ax.errb), "\naxon: forged"));
    CHECK(!strchr(buf_str(&ax.errb), '\x1b'));
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "connect", uri, NULL), 1);
    CHECK(!strstr(buf_str(&p.errb), "\naxon: forged"));
    CHECK(strstr(buf_str(&p.errb), "x\\x0aaxon: forged \\x1b[2J failed: No such file"));
}

/* A port alone: the message says the host is missing and shows the forms
 * that work, instead of calling 8080 a bad IPv4 address. */
TEST(listen_port_alone_says_host_missing)
{
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "listen", "8080", NULL), 2);
    CHECK_STR(buf_str(&p.errb),
              "axon: Invalid URI \"8080\" given: missing host before port 8080; give an address "
              "too, such as 0.0.0.0:8080 or [::]:8080 (every interface) or 127.0.0.1:8080 "
              "(EINVAL)\n");
}

/* --------------------------------------------------- signals, stdout */

TEST(sigterm_removes_unix_socket_file)
{
    char path[256], uri[300];
    snprintf(path, sizeof path, "%s/k.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    proc ax = axon(NUL, NUL, PIPE, "listen", "-k", "-v", uri, (const char *)NULL);
    char got[AX_URISTRLEN];
    listening(&ax, got, sizeof got);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));
    int c = connect_to(uri);
    expect_err(&ax, "connection from", ms(5000));
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(5000)), 128 + SIGTERM);
    CHECK(stat(path, &sb) < 0 && errno == ENOENT);
    expect_eof(c, ms(5000));
    ax_close(c);

    /* SIGINT while waiting for the one client. */
    proc ax2 = axon(NUL, NUL, PIPE, "listen", "-v", uri, (const char *)NULL);
    listening(&ax2, got, sizeof got);
    kill(ax2.pid, SIGINT);
    check_exit(&ax2, finish(&ax2, ms(5000)), 128 + SIGINT);
    CHECK(stat(path, &sb) < 0 && errno == ENOENT);
}

/* A stdout nobody reads any more is an error to report, not a SIGPIPE. */
TEST(closed_stdout_is_reported)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    int pp[2];
    CHECK(pipe2(pp, O_CLOEXEC) == 0);
    proc ax = axon(PIPE, pp[1], PIPE, "connect", uri, (const char *)NULL);
    close(pp[1]);
    close(pp[0]); /* the reader is gone */
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    send_str(c, "nobody reads this\n");
    check_exit(&ax, finish(&ax, ms(5000)), 1);
    CHECK_STR(buf_str(&ax.errb), "axon: stdout: Unable to write to stream: Broken pipe (EPIPE)\n");
    expect_eof(c, ms(5000));
    ax_close(c);
    ax_close(lfd);
}
