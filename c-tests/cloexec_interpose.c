/* Semantics 4: the open runs on a worker through libc's open entry point, so an
 * LD_PRELOAD interposer (the shim) sees it; O_CLOEXEC is always added. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    aopen_completion c[2];

    /* The shim delays this path: the delay shows the interposer ran. */
    double t0 = now_ms();
    CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    CHECK(now_ms() - t0 < delay / 2, "submit waited for the open");
    CHECK_EQ(reap_n(ctx, c, 1, (int)delay + 5000), 1);
    double took = now_ms() - t0;
    CHECK(took >= delay - 5, "open took %.0f ms: the shim did not see it", took);
    CHECK(c[0].result >= 0, "open: %d", c[0].result);
    int fl = fcntl(c[0].result, F_GETFD);
    CHECK(fl >= 0 && (fl & FD_CLOEXEC), "O_CLOEXEC missing on a slow open");
    close(c[0].result);

    /* A fast open without O_CLOEXEC in flags, and one with O_CREAT and a mode. */
    CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    CHECK(aopen_submit(ctx, fast_path("new"), O_WRONLY | O_CREAT | O_EXCL, 0600, NULL, NULL) > 0, "submit");
    CHECK_EQ(reap_n(ctx, c, 2, 5000), 2);
    for (int i = 0; i < 2; i++) {
        CHECK(c[i].result >= 0, "open: %d", c[i].result);
        fl = fcntl(c[i].result, F_GETFD);
        CHECK(fl >= 0 && (fl & FD_CLOEXEC), "O_CLOEXEC missing");
        close(c[i].result);
    }
    CHECK(file_exists(fast_path("new")), "O_CREAT did not create the file");
    aopen_ctx_free(ctx);
    return 0;
}
