/* Semantics 8: aopen_cancel. A queued request never runs; a running open is delivered at
 * once with -ECANCELED and the fd it opens is closed by the library when its syscall
 * returns; a done-but-undelivered open has its fd closed. -EALREADY for a close that ran
 * or a second cancel; -ENOENT for unknown or delivered ids. Each case has its own context
 * with one worker, so later requests stay queued behind a slow one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

static long delay; /* the shim's slow-open delay, ms */

static int test_running_and_queued_open(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    aopen_completion c[2];
    /* Running open + queued open (an O_CREAT that must never happen). */
    int64_t running = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    int64_t queued = aopen_submit(ctx, slow_path("never"), O_WRONLY | O_CREAT, 0600, NULL, NULL);
    CHECK(running > 0 && queued > 0, "submit");
    CHECK(wait_stats(ctx, 1, 1, 5000), "the first open never started");
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)queued), 0);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)queued), -EALREADY);
    double t0 = now_ms();
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)running), 0);
    /* Both are delivered at once, long before the running open returns. */
    CHECK_EQ(reap_n(ctx, c, 2, 1000), 2);
    CHECK(now_ms() - t0 < delay / 2, "cancelled open not delivered at once");
    CHECK_EQ(c[0].id, queued);
    CHECK_EQ(c[0].result, -ECANCELED);
    CHECK_EQ(c[1].id, running);
    CHECK_EQ(c[1].result, -ECANCELED);
    CHECK_EQ(c[1].op, AOPEN_OP_OPEN);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)running), -ENOENT); /* delivered */
    /* The abandoned open returns later: the library closes its fd. */
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 5000), "the abandoned open or its close never ended");
    CHECK_EQ(count_fds(), fds0 + 1); /* the eventfd */
    CHECK(!file_exists(slow_path("never")), "a cancelled queued open ran");
    CHECK_EQ(aopen_wait(ctx, 0), 0); /* nothing delivered twice */
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_done_undelivered_open(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    aopen_completion c[2];
    int64_t a = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    int64_t b = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    CHECK_EQ(wait_ready(ctx, 2, 5000), 2);
    CHECK_EQ(count_fds(), fds0 + 3);
    /* Cancel delivers -ECANCELED in place. The completion was already in the loop's queue,
     * so its delivery settles it: the fd goes to a worker to close (never aopen_cancel nor
     * the delivering call closing it inline), and nobody receives it. */
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)a), 0);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)a), -EALREADY);
    CHECK_EQ(aopen_reap(ctx, c, 2), 2);
    CHECK(c[0].id == (uint64_t)a && c[0].result == -ECANCELED, "a: %d", c[0].result);
    CHECK(c[1].id == (uint64_t)b && c[1].result >= 0, "b: %d", c[1].result);
    CHECK_EQ(wait_fds(fds0 + 2, 5000), fds0 + 2);
    close(c[1].result);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_close_that_ran(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    aopen_completion c;
    int64_t cl = aclose_submit(ctx, open(fast_path("f"), O_RDONLY | O_CLOEXEC), NULL, NULL);
    CHECK(cl > 0, "close submit");
    CHECK_EQ(reap_n(ctx, &c, 1, 5000), 1);
    CHECK(c.result == 0 && c.op == AOPEN_OP_CLOSE, "close: %d", c.result);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)cl), -ENOENT); /* delivered */
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_queued_close(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    aopen_completion c;
    int64_t pin = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL); /* busy worker */
    CHECK(pin > 0, "submit");
    int mine = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    int64_t qc = aclose_submit(ctx, mine, NULL, NULL);
    CHECK(qc > 0, "close submit");
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)qc), 0);
    CHECK_EQ(reap_n(ctx, &c, 1, 1000), 1);
    CHECK(c.id == (uint64_t)qc && c.result == -ECANCELED, "queued close: %d", c.result);
    CHECK(fcntl(mine, F_GETFD) >= 0, "a cancelled close closed the fd");
    close(mine);
    CHECK_EQ(reap_n(ctx, &c, 1, (int)delay + 5000), 1);
    close(c.result);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_close_done_undelivered(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    aopen_completion c;
    int64_t qc = aclose_submit(ctx, open(fast_path("f"), O_RDONLY | O_CLOEXEC), NULL, NULL);
    CHECK(qc > 0, "close submit");
    CHECK_EQ(wait_ready(ctx, 1, 5000), 1);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)qc), -EALREADY);
    CHECK_EQ(aopen_reap(ctx, &c, 1), 1);
    CHECK_EQ(c.result, 0); /* delivered with its result */
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_unknown_ids(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    CHECK_EQ(aopen_cancel(ctx, 0), -ENOENT);
    CHECK_EQ(aopen_cancel(ctx, 999999), -ENOENT);
    CHECK_EQ(aopen_cancel(ctx, UINT64_MAX), -ENOENT);
    aopen_ctx_free(ctx);
    return 0;
}

int main(void) {
    delay = require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    return test_running_and_queued_open() || test_done_undelivered_open() || test_close_that_ran() ||
           test_queued_close() || test_close_done_undelivered() || test_unknown_ids();
}
