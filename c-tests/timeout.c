/* Semantics 9: timeout_ms is exactly a cancel at the deadline, delivered with -ETIMEDOUT:
 * a running open is delivered at the deadline and its late fd closed by the library; a
 * queued one never runs; requests that finish in time are unaffected. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

#define TIMEOUT 200

int main(void) {
    long delay = require_shim();
    CHECK(delay > TIMEOUT * 2, "SLOW_OPEN_MS must exceed %d", TIMEOUT * 2);
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    int fds0 = count_fds();
    /* A share of one: the slow open, abandoned at its deadline, still holds it, so the
     * queued open can only time out (a worker started for it could take it a moment before
     * its own deadline, which falls a moment after the slow one's). */
    aopen_ctx *ctx = new_ctx_share(1, 1, 0, TIMEOUT, 1);
    aopen_completion c[4];

    double t0 = now_ms();
    int64_t slow = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    int64_t queued = aopen_submit(ctx, fast_path("never"), O_WRONLY | O_CREAT, 0600, NULL, NULL);
    CHECK(slow > 0 && queued > 0, "submit");
    CHECK_EQ(reap_n(ctx, c, 2, (int)delay + 5000), 2);
    double took = now_ms() - t0;
    printf("timed out after %.0f ms (timeout %d ms, open takes %ld ms)\n", took, TIMEOUT, delay);
    /* Not before the timeout; and before the open returns, which is when an unfired
     * timeout would let it complete (596 ms seen under valgrind on a loaded machine). */
    CHECK(took >= TIMEOUT - 1 && took < delay, "took %.0f ms", took);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(c[i].result, -ETIMEDOUT);
    CHECK_EQ(c[0].id, slow);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)slow), -ENOENT);

    /* The abandoned open returns: its fd is closed; the queued one never ran. */
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 10000), "the abandoned open never returned");
    CHECK_EQ(wait_fds(fds0 + 1, 5000), fds0 + 1);
    CHECK(!file_exists(fast_path("never")), "a timed-out queued open ran");

    /* Fast requests finish normally. */
    for (int i = 0; i < 3; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    CHECK_EQ(reap_n(ctx, c, 3, 5000), 3);
    for (int i = 0; i < 3; i++) {
        CHECK(c[i].result >= 0, "fast open: %d", c[i].result);
        close(c[i].result);
    }
    /* Completed before the deadline but delivered after it: the result stands. */
    int64_t a = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    CHECK(a > 0, "submit");
    CHECK_EQ(wait_ready(ctx, 1, 5000), 1);
    sleep_ms(TIMEOUT * 2);
    CHECK_EQ(aopen_reap(ctx, c, 4), 1);
    CHECK(c[0].result >= 0, "completed open timed out late: %d", c[0].result);
    close(c[0].result);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}
