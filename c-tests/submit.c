/* Semantics 2: submit returns a unique id > 0 at once, even while every worker is stuck;
 * the path is copied before submit returns; bad fds and over-long paths are rejected. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define N 200

int main(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "slow");
    make_file(fast_path("a"), "AAAA");
    /* One worker, no growth: the first slow open pins it. */
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);

    int64_t ids[N + 1];
    ids[0] = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    CHECK(ids[0] > 0, "submit: %lld", (long long)ids[0]);
    CHECK(wait_stats(ctx, 1, 0, 5000), "the slow open never started");
    double t0 = now_ms();
    char buf[PATH_MAX];
    for (int i = 1; i <= N; i++) {
        /* Reuse one buffer, then scribble on it: the library must have copied it. */
        snprintf(buf, sizeof buf, "%s", fast_path("a"));
        ids[i] = aopen_submit(ctx, buf, O_RDONLY, 0, NULL, (void *)(intptr_t)i);
        memset(buf, 'z', 64);
        CHECK(ids[i] > 0, "submit %d: %lld", i, (long long)ids[i]);
    }
    double took = now_ms() - t0;
    printf("%d submits while the only worker is stuck: %.2f ms\n", N, took);
    CHECK(took < delay / 2, "submits blocked: %.1f ms", took);
    for (int i = 0; i <= N; i++)
        for (int j = 0; j < i; j++)
            CHECK(ids[i] != ids[j], "duplicate id %lld", (long long)ids[i]);

    aopen_completion c[N + 1];
    CHECK_EQ(reap_n(ctx, c, N + 1, (int)delay + 10000), N + 1);
    for (int i = 0; i <= N; i++) {
        CHECK(c[i].result >= 0, "completion %d failed: %d", i, c[i].result);
        char got[8] = {0};
        CHECK(read(c[i].result, got, sizeof got - 1) > 0, "read");
        const char *want = c[i].id == (uint64_t)ids[0] ? "slow" : "AAAA";
        CHECK(strcmp(got, want) == 0, "opened the wrong file: %s", got);
        close(c[i].result);
    }

    /* aclose_submit with a negative fd. */
    CHECK_EQ(aclose_submit(ctx, -1, NULL, NULL), -EBADF);
    CHECK_EQ(aclose_submit(ctx, -100, NULL, NULL), -EBADF);

    /* A path of PATH_MAX bytes or more (without its NUL) is rejected at submit. */
    static char longp[PATH_MAX + 16];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    CHECK_EQ(aopen_submit(ctx, longp, O_RDONLY, 0, NULL, NULL), -ENAMETOOLONG);
    longp[PATH_MAX] = '\0';
    CHECK_EQ(aopen_submit(ctx, longp, O_RDONLY, 0, NULL, NULL), -ENAMETOOLONG);
    /* One shorter is accepted and fails in the kernel (component too long). */
    longp[PATH_MAX - 1] = '\0';
    int64_t id = aopen_submit(ctx, longp, O_RDONLY, 0, NULL, NULL);
    CHECK(id > 0, "submit: %lld", (long long)id);
    CHECK_EQ(reap_n(ctx, c, 1, 5000), 1);
    CHECK_EQ(c[0].result, -ENAMETOOLONG);
    aopen_ctx_free(ctx);
    return 0;
}
