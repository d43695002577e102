/*
 * tools/axon/main.c - the axon command: a netcat-class tool over the axon
 * library. Dispatches to one file per subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "main.h"

static const char usage[] = "usage: axon COMMAND [options] URI\n"
                            "Try 'axon --help' for more.\n";

static const char help[] =
    "usage: axon COMMAND [options] URI\n"
    "\n"
    "A netcat-class tool on the axon sockets library.\n"
    "\n"
    "commands:\n"
    "  listen URI    listen on URI; bridge a client with stdin/stdout, or keep\n"
    "                open (-k), echo (--echo), chat (--chat), run a command\n"
    "                per client (--exec, --sh-exec)\n"
    "  connect URI   connect to URI and bridge it with stdin/stdout or a command\n"
    "  help [COMMAND]  this help, or a command's\n"
    "\n"
    "URIs: tcp://127.0.0.1:5555, 127.0.0.1:5555, [::1]:5555, unix:///run/x.sock,\n"
    "      unix://@abstract, fd://3 (listen only)\n"
    "\n"
    "options:\n"
    "  -h, --help     this help ('axon COMMAND --help' for a command's options)\n"
    "      --version  print the version\n"
    "\n"
    "Exit status: 0 done, 1 failed, 2 bad usage, 128+N stopped by signal N.\n";

static int version(void)
{
    printf("axon %s (libaxon %s)\n", AXON_TOOL_VERSION, ax_version_string());
    return CLI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(usage, "missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "listen") == 0)
        return cli_listen_main(argc - 1, argv + 1);
    if (strcmp(cmd, "connect") == 0)
        return cli_connect_main(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(help, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            fputs(help, stdout);
            return CLI_OK;
        }
        char *sub[] = {argv[2], (char *)"--help", NULL};
        if (strcmp(argv[2], "listen") == 0)
            return cli_listen_main(2, sub);
        if (strcmp(argv[2], "connect") == 0)
            return cli_connect_main(2, sub);
        return cli_usage_error(usage, "unknown command \"%s\"", argv[2]);
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        return version();
    if (cmd[0] == '-')
        return cli_usage_error(usage, "unknown option %s", cmd);
    return cli_usage_error(usage, "unknown command \"%s\"", cmd);
}
