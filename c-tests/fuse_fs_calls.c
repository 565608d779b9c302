/* The metadata, link and copy calls and aopen_call_submit on hangfs, whose calls hang: for
 * each call, the submit returns at once and its cancel is delivered at once while it hangs
 * in the daemon; with a timeout it is delivered -ETIMEDOUT; 2000 healthy calls of the same
 * kind on local files complete beside 100 hung ones; a caller's function hung on hangfs is
 * charged to it (healthy calls go on), cancelled at once, and still runs to its end; and
 * once the daemon answers, nothing is left open or running and no output was written. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "helpers.h"

static struct hangfs *fs;

enum kind { READLINK, SYMLINK, LINK, ACCESS, STATFS, FSTATFS, CHMOD, FCHMOD, CHOWN, FCHOWN, UTIMENS, FUTIMENS,
            FALLOCATE, COPY_FILE_RANGE, SENDFILE, NKINDS };
static const char *names[NKINDS] = {"readlink", "symlink", "link",     "access",    "statfs",          "fstatfs",
                                    "chmod",    "fchmod",  "chown",    "fchown",    "utimens",         "futimens",
                                    "fallocate", "copy_file_range", "sendfile"};
/* The hangfs op each hangs in, and the directory that makes it hang. */
static const enum hangfs_op ops[NKINDS] = {
    HANGFS_READLINK, HANGFS_SYMLINK, HANGFS_LINK,    HANGFS_ACCESS,   HANGFS_STATFS,    HANGFS_STATFS,
    HANGFS_CHMOD,    HANGFS_CHMOD,   HANGFS_CHOWN,   HANGFS_CHOWN,    HANGFS_UTIMENS,   HANGFS_UTIMENS,
    HANGFS_FALLOCATE, HANGFS_COPY_FILE_RANGE, HANGFS_READ};
static const char *dirs[NKINDS] = {"readlink", "symlink", "link",    "access",  "statfs",    "statfs",
                                   "chmod",    "chmod",   "chown",   "chown",   "utimens",   "utimens",
                                   "fallocate", "copy_file_range", "read"};

#define HUNG 100
/* Outputs of the hung calls (never written: cancelled or timed out) and of healthy ones. */
static char link_bufs[NKINDS][HUNG + 2][64];
static struct statfs statfs_bufs[NKINDS][HUNG + 2];
static const unsigned char CANARY = 0x5A;
/* Descriptors opened on hangfs (its opens do not hang here) and the local ones. */
static int fds[4 * NKINDS * (HUNG + 2)];
static int nfds;
static int local_fd, local_out, devnull;

static int keep(int fd) {
    CHECK(fd >= 0, "open: %s", strerror(errno));
    fds[nfds++] = fd;
    return fd;
}

/* A file of kind `k`'s directory on hangfs ("<dir>/<prefix><i>"), or a local one. */
static const char *hung_path(int k, const char *prefix, int i) {
    char rel[128];
    /* Numbered by kind too: a hung setattr holds its file's lock in the kernel, so chmod
     * and fchmod (and the like) must not share files. */
    snprintf(rel, sizeof rel, "%s/%s%d", dirs[k], prefix, 1000 * k + i);
    return hangfs_path(fs, rel);
}

/* Submits call `k`: hung on hangfs (file `i` of its directory), or on a local file. */
static int64_t submit(aopen_ctx *ctx, int k, int hung, int i) {
    const char *loc = fast_path("local"), *loclink = fast_path("local-link");
    int slot = hung ? i : HUNG + 1;
    char new_local[64];
    snprintf(new_local, sizeof new_local, "new-%d-%d", k, i);
    switch (k) {
    case READLINK:
        return aopen_readlink_submit(ctx, hung ? hung_path(k, "lnk", i) : loclink, link_bufs[k][slot], 64, NULL, NULL);
    case SYMLINK:
        return aopen_symlink_submit(ctx, "x", hung ? hung_path(k, "new", i) : fast_path(new_local), NULL, NULL);
    case LINK:
        return aopen_link_submit(ctx, hung ? hangfs_path(fs, "plain/f") : loc, hung ? hung_path(k, "new", i) : fast_path(new_local),
                                 0, NULL, NULL);
    case ACCESS:
        return aopen_access_submit(ctx, hung ? hung_path(k, "f", i) : loc, R_OK, 0, NULL, NULL);
    case STATFS:
        return aopen_statfs_submit(ctx, hung ? hung_path(k, "f", i) : loc, &statfs_bufs[k][slot], NULL, NULL);
    case CHMOD:
        return aopen_chmod_submit(ctx, hung ? hung_path(k, "f", i) : loc, 0644, NULL, NULL);
    case CHOWN:
        return aopen_chown_submit(ctx, hung ? hung_path(k, "f", i) : loc, 0, 0, 0, NULL, NULL);
    case UTIMENS:
        return aopen_utimens_submit(ctx, hung ? hung_path(k, "f", i) : loc, NULL, 0, NULL, NULL);
    default:
        break;
    }
    /* The descriptor calls: a descriptor opened on hangfs (its opens answer), or local. */
    int fd = hung ? keep(open(hung_path(k, "f", i), O_RDWR | O_CLOEXEC)) : local_fd;
    switch (k) {
    case FSTATFS:
        return aopen_fstatfs_submit(ctx, fd, &statfs_bufs[k][slot], NULL, NULL);
    case FCHMOD:
        return aopen_fchmod_submit(ctx, fd, 0644, NULL, NULL);
    case FCHOWN:
        return aopen_fchown_submit(ctx, fd, 0, 0, NULL, NULL);
    case FUTIMENS:
        return aopen_futimens_submit(ctx, fd, NULL, NULL, NULL);
    case FALLOCATE:
        return aopen_fallocate_submit(ctx, fd, FALLOC_FL_KEEP_SIZE, 0, 4096, NULL, NULL);
    case COPY_FILE_RANGE: {
        int out = hung ? keep(open(hung_path(k, "g", i), O_RDWR | O_CLOEXEC)) : local_out;
        return aopen_copy_file_range_submit(ctx, fd, 0, out, 0, 16, 0, NULL, NULL);
    }
    default: /* SENDFILE: from a file whose reads hang */
        return aopen_sendfile_submit(ctx, devnull, fd, 0, 16, NULL, NULL);
    }
}

/* Each call hangs in the daemon and its cancel is delivered at once; then, with a 100 ms
 * timeout, each is delivered -ETIMEDOUT. */
static int test_cancel_and_timeout_while_hung(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0), *timed = new_ctx(0, 0, 0, 100);
    for (int k = 0; k < NKINDS; k++) {
        long before = hangfs_waiting(fs, ops[k]);
        int64_t id = TIMED(submit(ctx, k, 1, 0));
        CHECK(id > 0, "%s submit: %lld", names[k], (long long)id);
        CHECK(hangfs_wait_waiting(fs, ops[k], before + 1, 10000) >= before + 1, "%s never reached the daemon",
              names[k]);
        double t0 = now_ms();
        CHECK_EQ(TIMED(aopen_cancel(ctx, (uint64_t)id)), 0);
        CHECK_EQ(result_of(ctx, id), -ECANCELED);
        double cancel_ms = now_ms() - t0;
        t0 = now_ms();
        int64_t t = submit(timed, k, 1, 1);
        CHECK_EQ(result_of(timed, t), -ETIMEDOUT);
        double timeout_ms = now_ms() - t0;
        printf("%-16s hung: cancel delivered in %.2f ms, 100 ms timeout after %.0f ms\n", names[k], cancel_ms,
               timeout_ms);
        CHECK(cancel_ms < 1000, "%s: cancel took %.0f ms", names[k], cancel_ms);
        CHECK(timeout_ms < 2000, "%s: a 100 ms timeout fired after %.0f ms", names[k], timeout_ms);
    }
    aopen_ctx_free(ctx);
    aopen_ctx_free(timed);
    return 0;
}

/* 100 hung calls of one kind; 2000 of the same kind on local files complete beside them. */
static int test_healthy_calls_beside_hung_ones(void) {
    int healthy = under_valgrind() ? 100 : 2000;
    for (int k = 0; k < NKINDS; k++) {
        aopen_ctx *ctx = new_ctx(0, 0, 4096, 0);
        int64_t hung[HUNG];
        for (int i = 0; i < HUNG; i++)
            CHECK((hung[i] = TIMED(submit(ctx, k, 1, 2 + i))) > 0, "%s hung submit %d", names[k], i);
        double t0 = now_ms();
        int done = 0, inflight = 0, submitted = 0;
        while (done < healthy && now_ms() - t0 < 30000) {
            while (submitted < healthy && inflight < 64) {
                int64_t id = TIMED(submit(ctx, k, 0, submitted));
                CHECK(id > 0, "%s healthy submit: %lld", names[k], (long long)id);
                submitted++, inflight++;
            }
            aopen_completion c[64];
            int n = aopen_wait(ctx, 1000) > 0 ? TIMED(aopen_reap(ctx, c, 64)) : 0;
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < HUNG; i++)
                    CHECK((uint64_t)hung[i] != c[j].id, "%s: a hung call completed (%d)", names[k], c[j].result);
                CHECK(c[j].result >= 0 || ((k == SYMLINK || k == LINK) && c[j].result == -EEXIST),
                      "%s: a healthy call failed: %d", names[k], c[j].result);
                inflight--, done++;
            }
        }
        double ms = now_ms() - t0;
        printf("%-16s %d healthy calls beside %d hung in %.0f ms\n", names[k], done, HUNG, ms);
        CHECK_EQ(done, healthy);
        for (int i = 0; i < HUNG; i++)
            CHECK_EQ(aopen_cancel(ctx, (uint64_t)hung[i]), 0);
        aopen_completion c[HUNG];
        CHECK_EQ(reap_n(ctx, c, HUNG, 5000), HUNG);
        for (int i = 0; i < HUNG; i++)
            CHECK_EQ(c[i].result, -ECANCELED);
        aopen_ctx_free(ctx);
    }
    return 0;
}

/* A caller's function that stats a file whose lookup hangs: charged to hangfs by its path. */
static atomic_int calls_ended;
static int stat_hung(void *arg) {
    struct stat st;
    int r = stat((const char *)arg, &st) == 0 ? 0 : -errno;
    atomic_fetch_add(&calls_ended, 1);
    return r;
}
static int quick(void *arg) { return *(int *)arg; }

/* aopen_stats_mounts callback: the running calls listed on hangfs's mount. */
static void on_mount(const aopen_mount_stats *m, void *user_data) {
    if (strcmp(m->mount_point, fs->mnt) == 0)
        *(uint32_t *)user_data += m->running;
}

static int test_call_charged_cancelled_and_run_to_its_end(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 4096, 0);
    CHECK_EQ(aopen_call_submit(ctx, NULL, NULL, NULL, -1, NULL, NULL), -EINVAL);
    static char paths[8][4096];
    int64_t ids[8];
    long before = hangfs_waiting(fs, HANGFS_GETATTR);
    for (int i = 0; i < 8; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "getattr+c%d/f", i); /* one directory each: lookups serialize */
        snprintf(paths[i], sizeof paths[i], "%s", hangfs_path(fs, rel));
        CHECK((ids[i] = TIMED(aopen_call_submit(ctx, stat_hung, paths[i], paths[i], -1, NULL, NULL))) > 0, "submit");
    }
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_GETATTR, before + 8, 10000), before + 8);
    /* Charged to hangfs: listed there, and local calls go on. */
    int v = 7, healthy = under_valgrind() ? 100 : 2000;
    for (int i = 0; i < healthy; i++)
        CHECK_EQ(result_of(ctx, TIMED(aopen_call_submit(ctx, quick, &v, fast_path("local"), -1, NULL, NULL))), 7);
    uint32_t on_hangfs = 0;
    aopen_stats_mounts(ctx, 0, on_mount, &on_hangfs);
    CHECK_EQ(on_hangfs, 8); /* charged to the filesystem of their path */
    double t0 = now_ms();
    for (int i = 0; i < 8; i++)
        CHECK_EQ(TIMED(aopen_cancel(ctx, (uint64_t)ids[i])), 0);
    aopen_completion c[8];
    CHECK_EQ(reap_n(ctx, c, 8, 5000), 8);
    printf("call             8 hung functions cancelled in %.2f ms beside %d healthy ones\n", now_ms() - t0, healthy);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(c[i].result, -ECANCELED);
    CHECK_EQ(atomic_load(&calls_ended), 0);
    hangfs_release(fs);
    WAIT_FOR(atomic_load(&calls_ended) >= 8, 10000);
    CHECK_EQ(atomic_load(&calls_ended), 8); /* each function still ran to its end */
    CHECK(wait_stats(ctx, 0, 0, 10000), "calls still running after release");
    hangfs_rehang(fs);
    aopen_ctx_free(ctx);
    return 0;
}

static int intact(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != CANARY)
            return 0;
    return 1;
}

int main(int argc, char **argv) {
    (void)argc;
    without_preload(argv);
    if (under_valgrind())
        SKIP("these calls hang in the daemon, and valgrind holds its lock across some of them");
    fs = hangfs_mount("hang");
    make_file(fast_path("local"), "local data");
    make_file(fast_path("local-out"), "");
    CHECK(symlink("local", fast_path("local-link")) == 0, "symlink");
    local_fd = open(fast_path("local"), O_RDWR | O_CLOEXEC);
    local_out = open(fast_path("local-out"), O_RDWR | O_CLOEXEC);
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    memset(link_bufs, CANARY, sizeof link_bufs);
    memset(statfs_bufs, CANARY, sizeof statfs_bufs);
    int fds0 = count_fds(), threads0 = count_threads();
    int failed = test_cancel_and_timeout_while_hung() || test_healthy_calls_beside_hung_ones() ||
                 test_call_charged_cancelled_and_run_to_its_end();
    if (failed)
        return failed;
    hangfs_release(fs);
    for (int k = 0; k < NKINDS; k++) {
        WAIT_FOR(hangfs_waiting(fs, ops[k]) == 0, 20000);
        CHECK(hangfs_waiting(fs, ops[k]) == 0, "%s calls still wait in the daemon after release", names[k]);
    }
    CHECK_EQ(wait_threads(threads0, 20000), threads0);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    CHECK_EQ(hangfs_wait_balanced(fs, 10000), 0);
    CHECK_EQ(wait_fds(fds0, 5000), fds0);
    for (int k = 0; k < NKINDS; k++)
        for (int i = 0; i < HUNG + 1; i++)
            CHECK(intact(link_bufs[k][i], 64) && intact(&statfs_bufs[k][i], sizeof statfs_bufs[k][i]),
                  "%s: a cancelled or timed-out call wrote its output (slot %d)", names[k], i);
    printf("after release: nothing waits in the daemon, %d threads, %d descriptors, outputs intact\n",
           count_threads(), count_fds());
    return 0;
}
