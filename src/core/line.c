/* socket_read(PHP_NORMAL_READ): a buffered line reader with a size limit.
 * The buffer is allocated once (max_line + 2 bytes) so an oversized line is
 * an error, never an overflow or an unbounded allocation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

#define DEFAULT_MAX_LINE 8192

int ax_line_reader_init(ax_line_reader *r, int fd, size_t max_line)
{
    if (!r)
        return ax__err(AX_EINVAL, "line reader: r is NULL");
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
    if (r->max_line > SIZE_MAX / 2)
        return ax__err(AX_EINVAL, "line reader: max_line %zu is too large", max_line);
    /* The line, one byte to see that it went past the limit, and room for
     * the terminating NUL handed out with the line. */
    r->cap = r->max_line + 2;
    r->buf = malloc(r->cap);
    if (!r->buf)
        return ax__err(AX_ENOMEM, "line reader: cannot allocate %zu bytes", r->cap);
    return 0;
}

void ax_line_reader_free(ax_line_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = r->scan = 0;
}

size_t ax_line_reader_pending(const ax_line_reader *r, const char **data)
{
    if (data)
        *data = r->buf + r->start;
    return r->end - r->start;
}

void ax_line_reader_consume(ax_line_reader *r, size_t n)
{
    size_t have = r->end - r->start;
    r->start += n < have ? n : have;
    if (r->scan < r->start)
        r->scan = r->start;
}

/* Hands out buf[start..stop) as a line and moves past `skip` terminator
 * bytes. */
static int emit(ax_line_reader *r, size_t stop, size_t skip, const char **line, size_t *len)
{
    r->buf[stop] = '\0';
    *line = r->buf + r->start;
    *len = stop - r->start;
    r->start = stop + skip;
    r->scan = r->start;
    return 1;
}

int ax_read_line(ax_line_reader *r, const char **line, size_t *len)
{
    if (!r || !r->buf || !line || !len)
        return ax__err(AX_EINVAL, "read line: reader not initialised or NULL output");
    for (;;) {
        /* A line that ended in "\r" owns the "\n" of a "\r\n" that was
         * split across reads. */
        if (r->skip_lf && r->start < r->end) {
            if (r->buf[r->start] == '\n')
                ax_line_reader_consume(r, 1);
            r->skip_lf = false;
        }
        for (size_t i = r->scan; i < r->end; i++) {
            char c = r->buf[i];
            if (c == '\n')
                return emit(r, i, 1, line, len);
            if (c == '\r') {
                if (i + 1 < r->end) /* "\r\n" or a lone "\r" */
                    return emit(r, i, r->buf[i + 1] == '\n' ? 2 : 1, line, len);
                r->skip_lf = true;
                return emit(r, i, 1, line, len);
            }
        }
        r->scan = r->end;
        if (r->end - r->start > r->max_line)
            return ax__err(AX_ELINETOOLONG, "read line from fd %d: more than %zu bytes without "
                                            "a line end",
                           r->fd, r->max_line);
        if (r->eof) {
            if (r->end > r->start)
                return emit(r, r->end, 0, line, len);
            return 0;
        }
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->scan -= r->start;
            r->start = 0;
        }
        ssize_t n = ax_read(r->fd, r->buf + r->end, r->cap - 1 - r->end);
        if (n < 0)
            return (int)n; /* AX_EAGAIN or a recorded read error; bytes are kept */
        if (n == 0)
            r->eof = true;
        r->end += (size_t)n;
    }
}
