/* Fault injection (through the shim and rlimits): EINTR, EMFILE, ENFILE, ENOMEM from open;
 * EINTR and EIO from close; a slow close; real EMFILE from a lowered RLIMIT_NOFILE; failed
 * thread creation. Each becomes the right result in the right completion, nothing hangs,
 * nothing leaks, and the context keeps working afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

/* Each case's setup: slow-path opens undelayed unless the case says otherwise (the runner
 * restores the environment after each case), and a context whose one mount may use the
 * whole pool (every file here is on one mount; shares: mounts.c). */
static aopen_ctx *setup(int *fds0) {
    env_set("SLOW_OPEN_MS", "0");
    *fds0 = count_fds();
    return new_ctx_share(2, 8, 0, 0, 8);
}

static void teardown(aopen_ctx *ctx, int fds0) {
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
}

/* Errors from open, injected. */
static int test_open_errors(void) {
    int fds0;
    aopen_ctx *ctx = setup(&fds0);
    const char *names[] = {"EINTR", "EMFILE", "ENFILE", "ENOMEM"};
    const int codes[] = {EINTR, EMFILE, ENFILE, ENOMEM};
    for (int i = 0; i < 4; i++) {
        env_set("SLOW_OPEN_ERRNO", names[i]);
        for (int k = 0; k < 25; k++, faults++)
            CHECK_EQ(open1(ctx, slow_path("s")), -codes[i]);
        env_set("SLOW_OPEN_ERRNO", NULL);
        works(ctx);
    }
    teardown(ctx, fds0);
    return 0;
}

/* Errors from close: EINTR has released the fd, so it is success. */
static int test_close_eintr(void) {
    int fds0;
    aopen_ctx *ctx = setup(&fds0);
    env_set("SLOW_CLOSE_ERRNO", "EINTR");
    for (int k = 0; k < 25; k++, faults++) {
        int fd = open1(ctx, slow_path("s"));
        CHECK(fd >= 0, "open: %d", fd);
        CHECK_EQ(result_of(ctx, aclose_submit(ctx, fd, NULL, NULL)), 0);
        CHECK(fcntl(fd, F_GETFD) < 0 || count_fds() == fds0 + 1, "EINTR close left the fd open");
    }
    env_set("SLOW_CLOSE_ERRNO", NULL);
    works(ctx);
    teardown(ctx, fds0);
    return 0;
}

/* Errors from close: EIO is reported. */
static int test_close_eio(void) {
    int fds0;
    aopen_ctx *ctx = setup(&fds0);
    env_set("SLOW_CLOSE_ERRNO", "EIO");
    int left_open[25];
    for (int k = 0; k < 25; k++, faults++) {
        left_open[k] = open1(ctx, slow_path("s"));
        CHECK_EQ(result_of(ctx, aclose_submit(ctx, left_open[k], NULL, NULL)), -EIO);
    }
    env_set("SLOW_CLOSE_ERRNO", NULL);
    for (int k = 0; k < 25; k++)
        close(left_open[k]); /* the injected EIO left them open: close them for real */
    CHECK_EQ(count_fds(), fds0 + 1);
    works(ctx);
    teardown(ctx, fds0);
    return 0;
}

/* A slow close blocks a worker like a slow open does: other work goes on. The closes hang
 * until the release file exists, so the open below is served while they hang however
 * slowly the machine runs (no bound on how long it took). */
static int test_slow_close(void) {
    int fds0;
    aopen_ctx *ctx = setup(&fds0);
    char release[4096]; /* fast_path's buffers rotate */
    snprintf(release, sizeof release, "%s", fast_path("release"));
    unlink(release);
    env_set("SLOW_OPEN_RELEASE", release);
    env_set("SLOW_CLOSE_MS", "120000");
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
    teardown(ctx, fds0);
    return 0;
}

/* Real EMFILE: lower RLIMIT_NOFILE to just above what is open. (valgrind emulates
 * setrlimit(RLIMIT_NOFILE) without enforcing a lower limit: skipped there.) */
static int test_real_emfile(void) {
    if (under_valgrind())
        SKIP("RLIMIT_NOFILE is not enforced under valgrind");
    int fds0;
    aopen_ctx *ctx = setup(&fds0);
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)count_fds() + 3;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
    int ok = 0, emfile = 0;
    for (int i = 0; i < 10; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion many[10];
    int got = reap_n(ctx, many, 10, 5000);
    setrlimit(RLIMIT_NOFILE, &old); /* before any CHECK, so a failure cannot starve the next case */
    CHECK_EQ(got, 10);
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
    printf("RLIMIT_NOFILE lowered: %d opened, %d got -EMFILE\n", ok, emfile);
    /* The limit bounds descriptor numbers, so holes in the table let a few more through. */
    CHECK(ok >= 1 && emfile >= 1 && ok + emfile == 10, "ok=%d emfile=%d", ok, emfile);
    works(ctx);
    teardown(ctx, fds0);
    return 0;
}

/* Thread creation fails from the start: no context (its watchdog cannot start). */
static int test_no_thread_starts(void) {
    int fds0 = count_fds();
    env_set("FAIL_PTHREAD_CREATE_AFTER", "0");
    aopen_ctx *none = NULL;
    CHECK_EQ(aopen_ctx_new(NULL, &none), -EAGAIN);
    CHECK(none == NULL, "out written on failure");
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

/* Only the watchdog starts: submit reports -EAGAIN (no worker), queues nothing. */
static int test_only_the_watchdog_starts(void) {
    int fds0 = count_fds();
    env_set("FAIL_PTHREAD_CREATE_AFTER", "1");
    aopen_ctx *ctx = new_ctx(4, 8, 0, 0);
    CHECK_EQ(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL), -EAGAIN);
    CHECK_EQ(aopen_wait(ctx, 50), 0);
    teardown(ctx, fds0);
    return 0;
}

/* Watchdog and one worker: everything is served by that worker, nothing hangs. */
static int test_one_worker_starts(void) {
    int fds0 = count_fds();
    env_set("FAIL_PTHREAD_CREATE_AFTER", "2");
    env_set("SLOW_OPEN_MS", "100");
    aopen_ctx *ctx = new_ctx(4, 8, 0, 0);
    double t0 = now_ms();
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
    teardown(ctx, fds0);
    return 0;
}

int main(void) {
    require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    int rc = RUN_CASES(TEST_CASE(test_open_errors), TEST_CASE(test_close_eintr), TEST_CASE(test_close_eio),
                       TEST_CASE(test_slow_close), TEST_CASE(test_real_emfile), TEST_CASE(test_no_thread_starts),
                       TEST_CASE(test_only_the_watchdog_starts), TEST_CASE(test_one_worker_starts));
    printf("%d faults injected\n", faults);
    return rc;
}
