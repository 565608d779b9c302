/* A cancelled call on a caller's descriptor may not have entered its syscall yet when the
 * cancel is delivered, so the library's closes of that descriptor keep its number: on
 * hangfs, a read hung in the daemon is cancelled (delivered at once), then the descriptor
 * is closed with aclose_submit (and, in a second case, aclose_detach). The close completes
 * at once, but the number stays allocated (an O_PATH placeholder, not the caller's file)
 * while the read is still in its syscall, so the caller's next open gets another number;
 * aopen_close_nowait leaves the close to a worker; the loop stays live; and once the daemon
 * answers, the number is freed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct hangfs *fs;

static int fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* A read of `rel` on its own descriptor, hung in the daemon and then cancelled. */
static int hung_then_cancelled(aopen_ctx *ctx, const char *rel, char *buf, size_t len) {
    int fd = open(hangfs_path(fs, rel), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s: %s", rel, strerror(errno));
    long before = hangfs_waiting(fs, HANGFS_READ);
    int64_t id = aopen_read_submit(ctx, fd, buf, len, 0, NULL, NULL);
    CHECK(id > 0, "read submit: %lld", (long long)id);
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_READ, before + 1, 10000), before + 1);
    CHECK_EQ(TIMED(aopen_cancel(ctx, (uint64_t)id)), 0);
    aopen_completion c;
    CHECK_EQ(reap_n(ctx, &c, 1, 5000), 1);
    CHECK_EQ(c.result, -ECANCELED);
    return fd;
}

/* The number is held by a placeholder: open, but no longer the caller's file. */
static int placeholder(int fd) { return fcntl(fd, F_GETFL) != -1 && (fcntl(fd, F_GETFL) & O_PATH) != 0; }

static int test_aclose_submit_keeps_the_number_for_the_cancelled_read(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    char buf[4096];
    int fd = hung_then_cancelled(ctx, "read/f0", buf, sizeof buf);
    CHECK_EQ(TIMED(aopen_close_nowait(ctx, fd)), -EAGAIN);
    CHECK(fd_open(fd) && !placeholder(fd), "a refused close_nowait touched the descriptor");
    int64_t close_id = TIMED(aclose_submit(ctx, fd, NULL, NULL));
    CHECK(close_id > 0, "aclose_submit: %lld", (long long)close_id);
    aopen_completion c;
    CHECK_EQ(reap_n(ctx, &c, 1, 10000), 1);
    CHECK_EQ((long long)c.id, (long long)close_id);
    CHECK_EQ(c.result, 0);
    CHECK(placeholder(fd), "the number was freed (or the file kept) while the cancelled read was in its syscall");
    int other = open(hangfs_path(fs, "plain/f0"), O_RDONLY | O_CLOEXEC);
    CHECK(other >= 0 && other != fd, "the next open got the held number %d", fd);
    close(other);
    hangfs_release(fs);
    CHECK(wait_stats(ctx, 0, 0, 10000), "the cancelled read never returned");
    CHECK(!fd_open(fd), "the placeholder outlived the cancelled read");
    hangfs_rehang(fs);
    aopen_ctx_free(ctx);
    return 0;
}

static int test_aclose_detach_too(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    char buf[4096];
    int fd = hung_then_cancelled(ctx, "read/f1", buf, sizeof buf);
    CHECK_EQ(TIMED(aclose_detach(ctx, fd)), 0);
    CHECK(wait_stats(ctx, 1, 0, 10000), "the detached close did not finish beside the hung read (running %u)",
          stats_of(ctx).running);
    CHECK(placeholder(fd), "the detached close freed the number (or kept the file)");
    hangfs_release(fs);
    CHECK(wait_stats(ctx, 0, 0, 10000), "still running after release");
    CHECK(!fd_open(fd), "the placeholder outlived the cancelled read");
    hangfs_rehang(fs);
    aopen_ctx_free(ctx);
    return 0;
}

int main(void) {
    fs = hangfs_mount("hang");
    test_aclose_submit_keeps_the_number_for_the_cancelled_read();
    test_aclose_detach_too();
    CHECK(longest_call_ms < 1000, "a library call took %.1f ms on the loop thread", longest_call_ms);
    CHECK_EQ(hangfs_wait_balanced(fs, 10000), 0);
    return 0;
}
