/* Fault injection (through the shim and rlimits): EINTR, EMFILE, ENFILE, ENOMEM from open;
 * EINTR and EIO from close; a slow close; real EMFILE from a lowered RLIMIT_NOFILE; failed
 * thread creation. Each becomes the right result in the right completion, nothing hangs,
 * nothing leaks, and the context keeps working afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"

static int faults;

static int open1(aopen_ctx *ctx, const char *path) {
    return result_of(ctx, aopen_submit(ctx, path, O_RDONLY, 0, NULL, NULL));
}

static void works(aopen_ctx *ctx) {
    int fd = open1(ctx, fast_path("f"));
    CHECK(fd >= 0, "context broken after faults: %d", fd);
    CHECK_EQ(result_of(ctx, aclose_submit(ctx, fd, NULL, NULL)), 0);
}

int main(void) {
    require_shim();
    setenv("SLOW_OPEN_MS", "0", 1);
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    int fds0 = count_fds();
    /* Every file here is on one mount: let it use the whole pool (shares: mounts.c). */
    aopen_ctx *ctx = new_ctx_share(2, 8, 0, 0, 8);

    /* Errors from open, injected. */
    const char *names[] = {"EINTR", "EMFILE", "ENFILE", "ENOMEM"};
    const int codes[] = {EINTR, EMFILE, ENFILE, ENOMEM};
    for (int i = 0; i < 4; i++) {
        setenv("SLOW_OPEN_ERRNO", names[i], 1);
        for (int k = 0; k < 25; k++, faults++)
            CHECK_EQ(open1(ctx, slow_path("s")), -codes[i]);
        unsetenv("SLOW_OPEN_ERRNO");
        works(ctx);
    }

    /* Errors from close: EINTR has released the fd, so it is success; EIO is reported. */
    setenv("SLOW_CLOSE_ERRNO", "EINTR", 1);
    for (int k = 0; k < 25; k++, faults++) {
        int fd = open1(ctx, slow_path("s"));
        CHECK(fd >= 0, "open: %d", fd);
        CHECK_EQ(result_of(ctx, aclose_submit(ctx, fd, NULL, NULL)), 0);
        CHECK(fcntl(fd, F_GETFD) < 0 || count_fds() == fds0 + 1, "EINTR close left the fd open");
    }
    setenv("SLOW_CLOSE_ERRNO", "EIO", 1);
    int left_open[25];
    for (int k = 0; k < 25; k++, faults++) {
        left_open[k] = open1(ctx, slow_path("s"));
        CHECK_EQ(result_of(ctx, aclose_submit(ctx, left_open[k], NULL, NULL)), -EIO);
    }
    unsetenv("SLOW_CLOSE_ERRNO");
    for (int k = 0; k < 25; k++)
        close(left_open[k]); /* the injected EIO left them open: close them for real */
    CHECK_EQ(count_fds(), fds0 + 1);
    works(ctx);

    /* A slow close blocks a worker like a slow open does: other work goes on. The closes
     * hang until the release file exists, so the open below is served while they hang
     * however slowly the machine runs (no bound on how long it took). */
    const char *release = fast_path("release");
    setenv("SLOW_OPEN_RELEASE", release, 1);
    setenv("SLOW_CLOSE_MS", "120000", 1);
    int fds[4];
    for (int i = 0; i < 4; i++)
        CHECK((fds[i] = open1(ctx, slow_path("s"))) >= 0, "open");
    double t0 = now_ms();
    for (int i = 0; i < 4; i++, faults++)
        CHECK(aclose_submit(ctx, fds[i], NULL, NULL) > 0, "close submit");
    /* A submit that waited for its close would wait for the release, which comes later. */
    CHECK(now_ms() - t0 < 5000, "aclose_submit waited for the close");
    CHECK(wait_stats(ctx, 4, 0, 10000), "the 4 closes never all ran");
    int fd = open1(ctx, fast_path("f")); /* served beside the 4 hung closes */
    CHECK(fd >= 0, "open beside hung closes: %d", fd);
    close(fd);
    CHECK_EQ(aopen_wait(ctx, 0), 0); /* the closes still hang */
    make_file(release, "");
    aopen_completion c[4];
    CHECK_EQ(reap_n(ctx, c, 4, 10000), 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(c[i].result, 0);
    unsetenv("SLOW_CLOSE_MS");
    unsetenv("SLOW_OPEN_RELEASE");
    unlink(release);

    /* Real EMFILE: lower RLIMIT_NOFILE to just above what is open. (valgrind emulates
     * setrlimit(RLIMIT_NOFILE) without enforcing a lower limit: skipped there.) */
    if (under_valgrind()) {
        printf("RLIMIT_NOFILE part skipped under valgrind\n");
        goto threads;
    }
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)count_fds() + 3;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
    int ok = 0, emfile = 0;
    for (int i = 0; i < 10; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion many[10];
    CHECK_EQ(reap_n(ctx, many, 10, 5000), 10);
    for (int i = 0; i < 10; i++) {
        if (many[i].result >= 0) {
            ok++;
            close(many[i].result);
        } else {
            CHECK_EQ(many[i].result, -EMFILE);
            emfile++;
        }
    }
    faults += emfile;
    setrlimit(RLIMIT_NOFILE, &old);
    printf("RLIMIT_NOFILE lowered: %d opened, %d got -EMFILE\n", ok, emfile);
    /* The limit bounds descriptor numbers, so holes in the table let a few more through. */
    CHECK(ok >= 1 && emfile >= 1 && ok + emfile == 10, "ok=%d emfile=%d", ok, emfile);
    works(ctx);
threads:
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);

    /* Thread creation fails from the start: no context (its watchdog cannot start). */
    setenv("FAIL_PTHREAD_CREATE_AFTER", "0", 1);
    aopen_ctx *none = NULL;
    CHECK_EQ(aopen_ctx_new(NULL, &none), -EAGAIN);
    CHECK(none == NULL, "out written on failure");
    /* Only the watchdog starts: submit reports -EAGAIN (no worker), queues nothing. */
    setenv("FAIL_PTHREAD_CREATE_AFTER", "1", 1);
    ctx = new_ctx(4, 8, 0, 0);
    CHECK_EQ(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL), -EAGAIN);
    CHECK_EQ(aopen_wait(ctx, 50), 0);
    aopen_ctx_free(ctx);
    /* Watchdog and one worker: everything is served by that worker, nothing hangs. */
    setenv("FAIL_PTHREAD_CREATE_AFTER", "2", 1);
    setenv("SLOW_OPEN_MS", "100", 1);
    ctx = new_ctx(4, 8, 0, 0);
    t0 = now_ms();
    for (int i = 0; i < 5; i++, faults++)
        CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion five[5];
    CHECK_EQ(reap_n(ctx, five, 5, 5000), 5);
    for (int i = 0; i < 5; i++) {
        CHECK(five[i].result >= 0, "open: %d", five[i].result);
        close(five[i].result);
    }
    printf("5 x 100 ms opens on the one worker that could start: %.0f ms\n", now_ms() - t0);
    CHECK(now_ms() - t0 >= 495, "more than one worker ran");
    aopen_ctx_free(ctx);
    unsetenv("FAIL_PTHREAD_CREATE_AFTER");
    CHECK_EQ(count_fds(), fds0);
    printf("%d faults injected\n", faults);
    return 0;
}
