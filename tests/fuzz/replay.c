/*
 * Runs a fuzz target over saved inputs without libFuzzer, so the corpus is
 * checked in every normal test run:
 *
 *     fuzz_uri_replay DIR_OR_FILE...
 *
 * Every regular file (directories are read one level deep, in name order)
 * is fed to LLVMFuzzerTestOneInput(). A target reports a bug by crashing, so
 * the name of the input being run is printed if the process dies on a
 * signal. Prints "replayed N inputs" and "N passed, 0 failed" and exits 0;
 * exits 1 if an argument cannot be read or no input was found.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char current[4096];

/* Names the input that crashed the target, then dies of the same signal so
 * the exit status still tells what happened. Only async-signal-safe calls. */
static void on_crash(int sig)
{
    static const char pre[] = "replay: crashed on input ";
    if (write(2, pre, sizeof pre - 1) < 0 || write(2, current, strlen(current)) < 0 ||
        write(2, "\n", 1) < 0) {
        /* Nothing more can be done while dying. */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Feeds one file to the target. Returns 1 if it ran, 0 if it could not be
 * read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "replay: out of memory reading %s\n", path);
            fclose(f);
            return 0;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        uint8_t *bigger = realloc(buf, cap);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return 0;
    }
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int failed = 0;
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    signal(SIGILL, on_crash);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]))
                count++;
            else
                failed = 1;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, by_name);
        if (n < 0) {
            fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (replay_file(path))
                    count++;
                else
                    failed = 1;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %zu inputs\n", count);
    if (failed || count == 0) {
        if (count == 0)
            fprintf(stderr, "replay: no inputs found\n");
        printf("%zu passed, 1 failed\n", count);
        return 1;
    }
    printf("%zu passed, 0 failed\n", count);
    return 0;
}
