/* Semantics 3: with queue_depth requests undelivered, submit returns -EAGAIN and queues
 * nothing; delivering completions makes room again. Completed-but-undelivered requests
 * count, which bounds the descriptors the library holds for the caller. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

#define DEPTH 4

int main(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(2, 2, DEPTH, 0);

    for (int i = 0; i < DEPTH; i++)
        CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL) > 0, "submit %d", i);
    CHECK_EQ(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL), -EAGAIN);
    CHECK_EQ(aclose_submit(ctx, 0, NULL, NULL), -EAGAIN);

    /* Let all complete without delivering: still full. */
    CHECK(aopen_wait(ctx, (int)delay * 4 + 5000) > 0, "wait");
    wait_ready(ctx, DEPTH, (int)delay * 4 + 5000);
    CHECK_EQ(aopen_wait(ctx, 0), DEPTH);
    CHECK_EQ(count_fds(), fds0 + 1 /* eventfd */ + DEPTH);
    CHECK_EQ(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL), -EAGAIN);

    /* Deliver one: exactly one slot frees. */
    aopen_completion c[DEPTH + 1];
    CHECK_EQ(aopen_reap(ctx, c, 1), 1);
    close(c[0].result);
    CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "room after delivery");
    CHECK_EQ(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL), -EAGAIN);

    /* Nothing rejected was queued: exactly DEPTH completions remain. */
    CHECK_EQ(reap_n(ctx, c, DEPTH, 5000), DEPTH);
    sleep_ms(100); /* time for a wrongly queued one to complete: that nothing comes is the check */
    CHECK_EQ(aopen_reap(ctx, c + DEPTH, 1), 0);
    for (int i = 0; i < DEPTH; i++) {
        CHECK(c[i].result >= 0, "open: %d", c[i].result);
        close(c[i].result);
    }
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}
