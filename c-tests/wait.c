/* Semantics 7: aopen_wait blocks until a completion is ready (returns how many), or
 * returns 0 after timeout_ms; -1 waits forever; 0 only checks. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);

    double t0 = now_ms();
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    CHECK(now_ms() - t0 < 1000, "wait(0) blocked"); /* nothing is submitted: blocking is forever */
    t0 = now_ms();
    CHECK_EQ(aopen_wait(ctx, 150), 0);
    double took = now_ms() - t0;
    CHECK(took >= 149 && took < 1500, "wait(150) took %.0f ms", took);

    /* Forever: returns when the slow open completes, not before. */
    for (int i = 0; i < 3; i++)
        CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    t0 = now_ms();
    int n = aopen_wait(ctx, -1);
    took = now_ms() - t0;
    CHECK(n >= 1 && n <= 3, "wait(-1) = %d", n);
    CHECK(took >= delay - 50, "wait(-1) returned after %.0f ms, before the open finished", took);
    /* A finite wait that ends early because a completion arrived reports the count. */
    aopen_completion c[3];
    CHECK_EQ(reap_n(ctx, c, 3, 5000), 3);
    for (int i = 0; i < 3; i++)
        close(c[i].result);
    CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    t0 = now_ms();
    CHECK_EQ(aopen_wait(ctx, (int)delay * 10), 1);
    took = now_ms() - t0;
    CHECK(took < delay * 5, "wait did not return on completion (%.0f ms)", took);
    CHECK_EQ(aopen_wait(ctx, 0), 1); /* waiting delivers nothing */
    CHECK_EQ(aopen_reap(ctx, c, 3), 1);
    close(c[0].result);
    aopen_ctx_free(ctx);
    return 0;
}
