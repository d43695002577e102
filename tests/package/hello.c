/* Built against the *installed* axon (pkg-config and find_package) by
 * run.sh: proves the headers, libraries and package files work together. */
#include <axon.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (ax_version() != AX_VERSION_HEX) {
        fprintf(stderr, "header version %x, library %x\n", AX_VERSION_HEX, ax_version());
        return 1;
    }
    int lfd = ax_listen_uri("tcp://127.0.0.1:0", NULL);
    char uri[AX_URISTRLEN];
    if (lfd < 0 || ax_sockname_uri(lfd, uri, sizeof uri) < 0) {
        fprintf(stderr, "%s\n", ax_last_error()->message);
        return 1;
    }
    int c = ax_connect_uri(uri, NULL);
    int s = c < 0 ? -1 : ax_accept(lfd, NULL, 0);
    char buf[8] = {0};
    if (s < 0 || ax_write_all(c, "ping", 4, 1000, NULL) < 0 || ax_read(s, buf, 4) != 4 ||
        strcmp(buf, "ping") != 0) {
        fprintf(stderr, "exchange failed: %s\n", ax_last_error()->message);
        return 1;
    }
    printf("axon %s: exchanged over %s\n", ax_version_string(), uri);
    ax_close(s);
    ax_close(c);
    ax_close(lfd);
    return 0;
}
