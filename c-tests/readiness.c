/* Semantics 6: the context fd is readable iff a completion is ready; a partial delivery
 * leaves it readable, a full one does not. Workers coalesce: one eventfd write per
 * empty-to-non-empty transition (own eventfd and a caller's, AOPEN_OPT_EVENTFD). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "helpers.h"

#define N 50

static void all_ready(aopen_ctx *ctx, int n) {
    CHECK_EQ(wait_ready(ctx, n, 10000), n);
}

static void submit_n(aopen_ctx *ctx, int n) {
    for (int i = 0; i < n; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
}

static void reap_close(aopen_ctx *ctx, unsigned n) {
    aopen_completion c[N];
    CHECK_EQ(aopen_reap(ctx, c, n), n);
    for (unsigned i = 0; i < n; i++)
        close(c[i].result);
}

int main(void) {
    make_file(fast_path("f"), "x");

    /* Own eventfd. */
    aopen_ctx *ctx = new_ctx(4, 4, 0, 0);
    int fd = aopen_ctx_fd(ctx);
    CHECK(fd >= 0, "ctx fd");
    CHECK(!readable(fd), "readable with nothing submitted");
    submit_n(ctx, N);
    all_ready(ctx, N);
    CHECK(readable(fd), "not readable with completions ready");
    CHECK_EQ(eventfd_count(fd), 1); /* N completions, one write */
    reap_close(ctx, 10);
    CHECK(readable(fd), "not readable after a partial reap");
    CHECK_EQ(aopen_dispatch(ctx, 10), 10);
    CHECK(readable(fd), "not readable after a partial dispatch");
    reap_close(ctx, N - 20);
    CHECK(!readable(fd), "readable after draining");
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    /* Another round: readiness comes back, again with one write. */
    submit_n(ctx, N);
    all_ready(ctx, N);
    CHECK(readable(fd), "not readable on the second round");
    CHECK_EQ(eventfd_count(fd), 1);
    CHECK_EQ(aopen_dispatch(ctx, 0), N);
    CHECK(!readable(fd), "readable after dispatch(0)");
    aopen_ctx_free(ctx);

    /* A caller's eventfd: written once per transition, never read; after a partial
     * delivery it is written again, since the caller may have read it. */
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.threads = 4;
    o.flags = AOPEN_OPT_EVENTFD;
    o.eventfd = efd;
    ctx = NULL;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    CHECK_EQ(aopen_ctx_fd(ctx), efd);
    submit_n(ctx, N);
    all_ready(ctx, N);
    CHECK_EQ(eventfd_count(efd), 1);
    uint64_t v;
    CHECK(read(efd, &v, 8) == 8 && v == 1, "read caller eventfd");
    reap_close(ctx, 10);
    CHECK(readable(efd), "caller eventfd not re-signalled after a partial reap");
    CHECK(read(efd, &v, 8) == 8, "read");
    reap_close(ctx, N - 10);
    CHECK(!readable(efd), "caller eventfd signalled after draining");
    aopen_ctx_free(ctx);
    CHECK(fcntl(efd, F_GETFD) >= 0, "caller eventfd was closed");
    close(efd);
    return 0;
}
