/* Semantics 13 (and 1): failures are delivered, never lost, as -errno in the completion:
 * the kernel's errors (ENOENT, EISDIR, EBADF), and errors injected by the shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
    require_shim();
    setenv("SLOW_OPEN_MS", "10", 1);
    make_file(slow_path("s"), "x");
    aopen_ctx *ctx = new_ctx(2, 2, 0, 0);

    CHECK_EQ(result_of(ctx, aopen_submit(ctx, fast_path("missing"), O_RDONLY, 0, NULL, NULL)), -ENOENT);
    CHECK_EQ(result_of(ctx, aopen_submit(ctx, test_dir(), O_WRONLY, 0, NULL, NULL)), -EISDIR);
    CHECK_EQ(result_of(ctx, aopen_submit(ctx, "", O_RDONLY, 0, NULL, NULL)), -ENOENT);
    int closed = open(fast_path("x"), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    close(closed);
    CHECK_EQ(result_of(ctx, aclose_submit(ctx, closed, NULL, NULL)), -EBADF);

    const char *names[] = {"EACCES", "EMFILE", "ENOMEM", "EIO", "ESTALE"};
    const int codes[] = {EACCES, EMFILE, ENOMEM, EIO, ESTALE};
    for (int i = 0; i < 5; i++) {
        setenv("SLOW_OPEN_ERRNO", names[i], 1);
        CHECK_EQ(result_of(ctx, aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL)), -codes[i]);
    }
    unsetenv("SLOW_OPEN_ERRNO");
    /* The context keeps working after failures. */
    int fd = result_of(ctx, aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL));
    CHECK(fd >= 0, "open after failures: %d", fd);
    CHECK_EQ(result_of(ctx, aclose_submit(ctx, fd, NULL, NULL)), 0);
    aopen_ctx_free(ctx);
    return 0;
}
