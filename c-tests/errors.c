/* Semantics 1: every call returns >= 0 or -errno; NULL arguments and bad options are
 * rejected with the right errno, never a crash; a zeroed options struct never touches fd 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "helpers.h"

static int opts_rc(aopen_options o) {
    aopen_ctx *ctx = (aopen_ctx *)0x1;
    int rc = aopen_ctx_new(&o, &ctx);
    if (rc == 0)
        aopen_ctx_free(ctx);
    else
        CHECK(ctx == (aopen_ctx *)0x1, "out was written on failure");
    return rc;
}

static aopen_options zero; /* all options zero */

/* NULL context or output everywhere. */
static int test_null_context(void) {
    CHECK_EQ(aopen_ctx_new(NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_ctx_new(&zero, NULL), -EINVAL);
    aopen_ctx_free(NULL);
    CHECK_EQ(aopen_ctx_fd(NULL), -EINVAL);
    CHECK_EQ(aopen_submit(NULL, "/x", O_RDONLY, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aclose_submit(NULL, 3, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_dispatch(NULL, 0), -EINVAL);
    aopen_completion c[4];
    CHECK_EQ(aopen_reap(NULL, c, 4), -EINVAL);
    CHECK_EQ(aopen_wait(NULL, 0), -EINVAL);
    CHECK_EQ(aopen_cancel(NULL, 1), -EINVAL);
    CHECK(aopen_version() != NULL && strchr(aopen_version(), '.') != NULL, "version string");
    return 0;
}

/* Bad options fail with nothing written; good ones near them work. */
static int test_bad_options(void) {
    aopen_options o = zero;
    o.threads = 8;
    o.max_threads = 4;
    CHECK_EQ(opts_rc(o), -EINVAL);
    o = zero;
    o.flags = 0x80;
    CHECK_EQ(opts_rc(o), -EINVAL);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++) {
        o = zero;
        o.reserved[i] = 1;
        CHECK_EQ(opts_rc(o), -EINVAL);
    }
    o = zero;
    o.blocked_ms = 9; /* the blocked threshold: 0 (200 ms) or 10 to 600000 */
    CHECK_EQ(opts_rc(o), -EINVAL);
    o.blocked_ms = 600001;
    CHECK_EQ(opts_rc(o), -EINVAL);
    o.blocked_ms = 10;
    CHECK_EQ(opts_rc(o), 0);
    o.blocked_ms = 600000;
    CHECK_EQ(opts_rc(o), 0);
    o = zero;
    o.max_threads = 8;
    o.per_mount_threads = 9; /* a share larger than the pool */
    CHECK_EQ(opts_rc(o), -EINVAL);
    o.per_mount_threads = 8;
    CHECK_EQ(opts_rc(o), 0);
    o = zero;
    o.queue_depth = 0xffffffffu;
    CHECK_EQ(opts_rc(o), -EINVAL);
    o = zero;
    o.flags = AOPEN_OPT_EVENTFD;
    o.eventfd = 1000; /* not open */
    CHECK(fcntl(1000, F_GETFD) < 0, "fd 1000 unexpectedly open");
    CHECK_EQ(opts_rc(o), -EBADF);
    o.eventfd = -1;
    CHECK_EQ(opts_rc(o), -EBADF);
    o = zero;
    o.threads = 2;
    o.max_threads = 2;
    CHECK_EQ(opts_rc(o), 0);
    return 0;
}

/* Valid context, bad arguments. */
static int test_bad_arguments(void) {
    aopen_ctx *ctx = NULL;
    CHECK_EQ(aopen_ctx_new(NULL, &ctx), 0);
    CHECK(ctx != NULL, "ctx");
    CHECK_EQ(aopen_submit(ctx, NULL, O_RDONLY, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_reap(ctx, NULL, 1), -EINVAL);
    CHECK_EQ(aopen_reap(ctx, NULL, 0), 0);
    CHECK_EQ(aopen_wait(ctx, -2), -EINVAL);
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    CHECK_EQ(aopen_cancel(ctx, 0), -ENOENT);
    CHECK_EQ(aopen_cancel(ctx, 12345), -ENOENT);
    CHECK_EQ(aopen_dispatch(ctx, 0), 0);
    aopen_ctx_free(ctx);
    return 0;
}

/* A zeroed options struct must never touch fd 0: put an eventfd with counter 5 there and
 * check it is neither written nor read nor closed while a context works. */
static int test_zeroed_options_leave_fd_0(void) {
    aopen_completion c[4];
    int stdin_copy = dup(0); /* put back at the end */
    int efd = eventfd(5, EFD_NONBLOCK);
    CHECK(efd >= 0, "eventfd");
    CHECK(dup2(efd, 0) == 0, "dup2");
    close(efd);
    aopen_ctx *ctx = NULL;
    CHECK_EQ(aopen_ctx_new(&zero, &ctx), 0);
    CHECK(aopen_ctx_fd(ctx) != 0, "context uses fd 0");
    make_file(fast_path("f"), "x");
    for (int i = 0; i < 8; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(reap_n(ctx, c, 4, 5000), 4);
        for (int i = 0; i < 4; i++) {
            CHECK(c[i].result > 0, "open failed: %d", c[i].result);
            close(c[i].result);
        }
    }
    aopen_ctx_free(ctx);
    CHECK(fcntl(0, F_GETFD) >= 0, "fd 0 was closed");
    CHECK_EQ(eventfd_count(0), 5);
    if (stdin_copy >= 0) {
        dup2(stdin_copy, 0);
        close(stdin_copy);
    } else {
        close(0);
    }
    return 0;
}

int main(void) {
    return RUN_CASES(TEST_CASE(test_null_context), TEST_CASE(test_bad_options), TEST_CASE(test_bad_arguments),
                     TEST_CASE(test_zeroed_options_leave_fd_0));
}
