/* Contexts: making one, its stats, reaping its completions (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <string.h>

aopen_ctx *new_ctx(uint32_t threads, uint32_t max_threads, uint32_t queue_depth, uint32_t timeout_ms) {
    return new_ctx_share(threads, max_threads, queue_depth, timeout_ms, 0);
}

aopen_ctx *new_ctx_share(uint32_t threads, uint32_t max_threads, uint32_t queue_depth, uint32_t timeout_ms,
                         uint32_t per_mount) {
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.max_threads = max_threads;
    o.queue_depth = queue_depth;
    o.timeout_ms = timeout_ms;
    o.per_mount_threads = per_mount;
    aopen_ctx *ctx = NULL;
    int rc = aopen_ctx_new(&o, &ctx);
    CHECK(rc == 0 && ctx != NULL, "aopen_ctx_new: %d", rc);
    return ctx;
}

aopen_stats_snapshot stats_of(aopen_ctx *ctx) {
    aopen_stats_snapshot s;
    CHECK_EQ(aopen_stats(ctx, &s), 0);
    return s;
}

int reap_n(aopen_ctx *ctx, aopen_completion *out, int n, int timeout_ms) {
    double end = now_ms() + timeout_ms;
    int got = 0;
    while (got < n) {
        int left = (int)(end - now_ms());
        if (left <= 0)
            break;
        int w = aopen_wait(ctx, left);
        CHECK(w >= 0, "aopen_wait: %d", w);
        int r = aopen_reap(ctx, out + got, (unsigned)(n - got));
        CHECK(r >= 0, "aopen_reap: %d", r);
        got += r;
    }
    return got;
}

int result_of(aopen_ctx *ctx, int64_t id) {
    CHECK(id > 0, "submit: %lld", (long long)id);
    aopen_completion c;
    CHECK_EQ(reap_n(ctx, &c, 1, 10000), 1);
    CHECK_EQ(c.id, id);
    return c.result;
}
