/* The program tools/route.py runs under gdb: one open of a cached file, its close, and one
 * read, each on a pool of one worker with the fast path off (AOPEN_OPT_NO_INLINE), so each
 * takes the pool's whole way: submit, the worker, the syscall, the completion back to the
 * loop. Each request stands between calls to route_mark(), which route.py breaks on to tell
 * what a stretch of the library's calls belongs to. The loop waits on the context fd with
 * poll(2) and takes completions with aopen_reap, as an event loop does. Before each request
 * the worker is left idle long enough to park and the last reap's report is taken in, so
 * every route starts from the same state.
 *
 * Not a test: it checks only that each request succeeds (exit 1 otherwise). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aopen.h"

/* route.py's breakpoint: `what` names the stretch that starts here. */
__attribute__((noinline)) void route_mark(const char *what) {
    __asm__ volatile("" : : "r"(what) : "memory");
}

static void fail(const char *what, long r) {
    fprintf(stderr, "route: %s: %ld (%s)\n", what, r, r < 0 ? strerror((int)-r) : "");
    exit(1);
}

/* Lets the worker finish spinning and park (a spin lasts microseconds; under gdb, longer),
 * then has the pool take in what the last reap reported (aopen_stats takes the pool's lock,
 * and whoever takes it takes in pending delivery reports): else the next submit that locks
 * would, and one route would carry another request's report. */
static void settle(struct aopen_ctx *ctx) {
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    aopen_stats_snapshot s;
    int r = aopen_stats(ctx, &s);
    if (r < 0)
        fail("aopen_stats", r);
}

/* The context fd, asked for once, as a loop does when it registers it. */
static int ctx_fd = -1;

/* Waits on the context fd, as a loop does, then reaps the one completion. */
static aopen_completion take_one(struct aopen_ctx *ctx) {
    struct pollfd p = {.fd = ctx_fd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        fail("poll", -ETIMEDOUT);
    aopen_completion c;
    int n = aopen_reap(ctx, &c, 1);
    if (n != 1)
        fail("aopen_reap", n);
    return c;
}

/* One open, then its close, through the pool; returns the descriptor's close result. */
static int open_close(struct aopen_ctx *ctx, const char *path, int traced) {
    if (traced)
        route_mark("open:submit");
    int64_t id = aopen_submit(ctx, path, O_RDONLY, 0, NULL, NULL);
    if (traced)
        route_mark("open:loop");
    if (id <= 0)
        fail("aopen_submit", id);
    aopen_completion c = take_one(ctx);
    if (traced)
        route_mark("open:done");
    if (c.result < 0)
        fail("open completion", c.result);
    settle(ctx);
    if (traced)
        route_mark("close:submit");
    id = aclose_submit(ctx, c.result, NULL, NULL);
    if (traced)
        route_mark("close:loop");
    if (id <= 0)
        fail("aclose_submit", id);
    c = take_one(ctx);
    if (traced)
        route_mark("close:done");
    return c.result;
}

int main(void) {
    char path[] = "/tmp/aopen-route-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        fail("mkstemp", -errno);
    char data[4096];
    memset(data, 'r', sizeof data);
    if (write(fd, data, sizeof data) != (ssize_t)sizeof data)
        fail("write", -errno);

    aopen_options opts = {.threads = 1, .max_threads = 1, .flags = AOPEN_OPT_NO_INLINE};
    struct aopen_ctx *ctx = NULL;
    int r = aopen_ctx_new(&opts, &ctx);
    if (r < 0)
        fail("aopen_ctx_new", r);
    ctx_fd = aopen_ctx_fd(ctx);

    /* Untraced: starts the worker and warms the caches (the file's mount, its path). */
    if (open_close(ctx, path, 0) < 0)
        fail("warm-up close", -1);
    settle(ctx);
    r = open_close(ctx, path, 1);
    if (r < 0)
        fail("close completion", r);

    char buf[4096];
    settle(ctx);
    route_mark("read:submit");
    int64_t id = aopen_read_submit(ctx, fd, buf, sizeof buf, 0, NULL, NULL);
    route_mark("read:loop");
    if (id <= 0)
        fail("aopen_read_submit", id);
    aopen_completion c = take_one(ctx);
    route_mark("read:done");
    if (c.result != (int)sizeof buf || memcmp(buf, data, sizeof buf) != 0)
        fail("read completion", c.result);

    route_mark("end");
    aopen_ctx_free(ctx);
    close(fd);
    unlink(path);
    return 0;
}
