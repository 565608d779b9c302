/* After the last context is freed the library holds nothing: no descriptor (not even its
 * watch on /proc/self/mountinfo), no thread; the next context reopens what it needs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

static void use_once(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    int fd = result_of(ctx, aopen_submit(ctx, "/dev/null", O_RDONLY, 0, NULL, NULL));
    CHECK(fd >= 0, "open: %d", fd);
    CHECK_EQ(result_of(ctx, aclose_submit(ctx, fd, NULL, NULL)), 0);
    CHECK_EQ(mount_watch_fds(), 1);
    aopen_ctx_free(ctx);
}

int main(void) {
    int fds = count_lib_fds(), threads = count_threads();
    for (int round = 0; round < 2; round++) {
        use_once();
        wait_threads(threads, 10000);
        printf("round %d: threads %d -> %d, mountinfo watches %d, fds %d -> %d\n", round, threads, count_threads(),
               mount_watch_fds(), fds, count_lib_fds());
        CHECK_EQ(mount_watch_fds(), 0);
        CHECK_EQ(count_lib_fds(), fds);
        CHECK_EQ(count_threads(), threads);
    }
    return 0;
}
