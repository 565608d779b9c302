/* Semantics 8: aopen_cancel. A queued request never runs; a running open is delivered at
 * once with -ECANCELED and the fd it opens is closed by the library when its syscall
 * returns; a done-but-undelivered open has its fd closed. -EALREADY for a close that ran
 * or a second cancel; -ENOENT for unknown or delivered ids. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0); /* one worker: later requests stay queued */
    aopen_completion c[8];

    /* Running open + queued open (an O_CREAT that must never happen). */
    int64_t running = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    int64_t queued = aopen_submit(ctx, slow_path("never"), O_WRONLY | O_CREAT, 0600, NULL, NULL);
    CHECK(running > 0 && queued > 0, "submit");
    sleep_ms(50);
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
    /* The abandoned open returns later: its fd must be closed by the library. */
    sleep_ms(delay + 300);
    CHECK_EQ(count_fds(), fds0 + 1);
    CHECK(!file_exists(slow_path("never")), "a cancelled queued open ran");
    CHECK_EQ(aopen_wait(ctx, 0), 0); /* nothing delivered twice */

    /* Done but not delivered: cancel has a worker close the fd and delivers -ECANCELED in place. */
    int64_t a = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    int64_t b = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    double end = now_ms() + 5000;
    while (aopen_wait(ctx, 0) < 2 && now_ms() < end)
        sleep_ms(5);
    CHECK_EQ(count_fds(), fds0 + 3);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)a), 0);
    /* The fd is closed by a worker, not inside aopen_cancel. */
    CHECK_EQ(wait_fds(fds0 + 2, 5000), fds0 + 2);
    CHECK_EQ(aopen_reap(ctx, c, 8), 2);
    CHECK(c[0].id == (uint64_t)a && c[0].result == -ECANCELED, "a: %d", c[0].result);
    CHECK(c[1].id == (uint64_t)b && c[1].result >= 0, "b: %d", c[1].result);

    /* A close that ran cannot be cancelled; a queued close can, and its fd stays open. */
    int64_t cl = aclose_submit(ctx, c[1].result, NULL, NULL);
    CHECK(cl > 0, "close submit");
    CHECK_EQ(reap_n(ctx, c + 2, 1, 5000), 1);
    CHECK(c[2].result == 0 && c[2].op == AOPEN_OP_CLOSE, "close: %d", c[2].result);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)cl), -ENOENT);
    CHECK_EQ(count_fds(), fds0 + 1);

    int64_t pin = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL); /* busy worker */
    CHECK(pin > 0, "submit");
    int mine = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    int64_t qc = aclose_submit(ctx, mine, NULL, NULL);
    CHECK(qc > 0, "close submit");
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)qc), 0);
    CHECK_EQ(reap_n(ctx, c, 1, 1000), 1);
    CHECK(c[0].id == (uint64_t)qc && c[0].result == -ECANCELED, "queued close: %d", c[0].result);
    CHECK(fcntl(mine, F_GETFD) >= 0, "a cancelled close closed the fd");
    close(mine);
    CHECK_EQ(reap_n(ctx, c, 1, (int)delay + 5000), 1);
    close(c[0].result);

    /* A close already done but not yet delivered: -EALREADY, delivered with its result. */
    mine = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    qc = aclose_submit(ctx, mine, NULL, NULL);
    end = now_ms() + 5000;
    while (aopen_wait(ctx, 0) < 1 && now_ms() < end)
        sleep_ms(5);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)qc), -EALREADY);
    CHECK_EQ(aopen_reap(ctx, c, 1), 1);
    CHECK_EQ(c[0].result, 0);

    CHECK_EQ(aopen_cancel(ctx, 999999), -ENOENT);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}
