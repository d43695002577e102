/* tools/axon/main.h - the subcommands main.c dispatches to. */
#ifndef AXON_TOOL_MAIN_H
#define AXON_TOOL_MAIN_H

/* Each takes the arguments after "axon" (argv[0] is the subcommand's
 * name) and returns the exit status. */
int cli_listen_main(int argc, char **argv);
int cli_connect_main(int argc, char **argv);

#endif
