/* No close on the loop thread (real FUSE filesystem, hangfs): every close the library owes
 * (a cancelled open that had finished, a dropped NULL-callback open, queued closes and
 * undelivered opens at free) runs on a worker. Files in hangfs's "flush" directory open at
 * once and hang in close(2) (FUSE flushes on close, as NFS does), so any close on the
 * caller's thread would block the call for as long as the hang lasts. Each call must return
 * within a generous bound, and once the hang ends every descriptor is closed: the daemon
 * saw as many releases as opens and the process holds no extra descriptor. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* A call that waited for the hang would take 3 s (the release timer); 1 s allows for a
 * sanitizer and a loaded machine. */
enum { CALL_BOUND_MS = 1000, FREE_HUNG = 100, FREE_CLOSES = 120, FREE_OPENS = 20 };

static struct hangfs *fs;
static int base_fds;
/* Bumped by each settle(): a pending release timer of an earlier case does nothing. */
static volatile int generation;

/* Releases the hang after 3 s unless the case settled first, so that a library that does
 * block the caller's thread shows how long (instead of hanging the test). */
static void *release_later(void *arg) {
    int gen = (int)(intptr_t)arg;
    sleep_ms(3000); /* a deadline, not a wait for a state */
    if (generation == gen)
        hangfs_release(fs);
    return NULL;
}

static void arm_release_timer(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, release_later, (void *)(intptr_t)generation) == 0, "pthread_create");
    pthread_detach(t);
}

/* Releases the hang and checks that nothing leaked; then hangs again for the next case. */
static void settle(const char *what) {
    generation++;
    hangfs_release(fs);
    long unbalanced = hangfs_wait_balanced(fs, 10000);
    wait_fds(base_fds, 5000);
    printf("%s: longest call %.2f ms; daemon opens %ld releases %ld; fds %d -> %d\n", what, longest_call_ms,
           hangfs_done(fs, HANGFS_OPEN), hangfs_done(fs, HANGFS_RELEASE), base_fds, count_fds());
    CHECK(longest_call_ms < CALL_BOUND_MS, "%s: a call blocked the loop thread %.1f ms", what, longest_call_ms);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    hangfs_rehang(fs);
    longest_call_ms = 0;
}

/* An open that finished but is not delivered, then cancelled: its fd is closed by a worker. */
static int test_cancel_done_open(void) {
    arm_release_timer();
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    int64_t id = aopen_submit(ctx, hangfs_path(fs, "flush/a"), O_RDONLY, 0, NULL, NULL);
    CHECK(id > 0, "submit: %lld", (long long)id);
    CHECK(aopen_wait(ctx, 5000) == 1, "the open completes");
    CHECK_EQ(TIMED(aopen_cancel(ctx, (uint64_t)id)), 0);
    aopen_completion c;
    CHECK_EQ(TIMED(aopen_reap(ctx, &c, 1)), 1);
    CHECK_EQ(c.result, -ECANCELED);
    long hung = hangfs_wait_waiting(fs, HANGFS_FLUSH, 1, 5000);
    TIMED((aopen_ctx_free(ctx), 0));
    settle("cancel of a finished open");
    CHECK(hung == 1, "the close runs (and hangs) on a worker: %ld hung", hung);
    return 0;
}

/* An open with no callback, dropped by aopen_dispatch: its fd is closed by a worker. */
static int test_dispatch_drops_open(void) {
    arm_release_timer();
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    CHECK(aopen_submit(ctx, hangfs_path(fs, "flush/b"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    CHECK(aopen_wait(ctx, 5000) == 1, "the open completes");
    CHECK_EQ(TIMED(aopen_dispatch(ctx, 0)), 1);
    long hung = hangfs_wait_waiting(fs, HANGFS_FLUSH, 1, 5000);
    aopen_stats_snapshot s = stats_of(ctx);
    TIMED((aopen_ctx_free(ctx), 0));
    settle("dispatch of a NULL-callback open");
    CHECK(hung == 1, "the close runs (and hangs) on a worker: %ld hung", hung);
    CHECK(s.running == 1 && s.owed_closes == 1, "the owed close is counted: running %u owed %llu", s.running,
          (unsigned long long)s.owed_closes);
    return 0;
}

/* Free with 100 closes hung in flush, 20 more queued behind the share, and 20 opens done
 * but undelivered. */
static int test_free_with_owed_closes(void) {
    arm_release_timer();
    aopen_ctx *ctx = new_ctx_share(0, 128, 0, 0, FREE_HUNG);
    long opened = hangfs_done(fs, HANGFS_OPEN);
    for (int i = 0; i < FREE_OPENS; i++) {
        char name[32];
        snprintf(name, sizeof name, "flush/open%d", i);
        CHECK(aopen_submit(ctx, hangfs_path(fs, name), O_RDONLY, 0, NULL, NULL) > 0, "submit open");
    }
    WAIT_FOR(hangfs_done(fs, HANGFS_OPEN) >= opened + FREE_OPENS, 5000);
    for (int i = 0; i < FREE_CLOSES; i++) {
        char name[32];
        snprintf(name, sizeof name, "flush/close%d", i);
        int fd = open(hangfs_path(fs, name), O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0, "open %s: %s", name, strerror(errno));
        CHECK(TIMED(aclose_submit(ctx, fd, NULL, NULL)) > 0, "aclose_submit");
    }
    long hung = hangfs_wait_waiting(fs, HANGFS_FLUSH, FREE_HUNG, 2500);
    double t0 = now_ms();
    TIMED((aopen_ctx_free(ctx), 0));
    printf("aopen_ctx_free with %ld closes hung in flush and %d more owed: %.2f ms\n", hung,
           FREE_CLOSES - FREE_HUNG + FREE_OPENS, now_ms() - t0);
    settle("free with owed closes");
    CHECK_EQ(hung, FREE_HUNG);
    return 0;
}

int main(void) {
    /* valgrind keeps its big lock across close(2) (it does not expect close to block), so
     * one close hung in FUSE's flush would freeze every thread of the process. */
    if (under_valgrind())
        SKIP("closes hang in this test, and valgrind holds its lock across close(2)");
    fs = hangfs_mount("hang");
    base_fds = count_fds();
    test_cancel_done_open();
    test_dispatch_drops_open();
    test_free_with_owed_closes();
    return 0;
}
