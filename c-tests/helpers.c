/* Shared helpers for the C tests (see helpers.h). */
#define _GNU_SOURCE
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int count_dir(const char *path) {
    DIR *d = opendir(path);
    CHECK(d != NULL, "opendir %s", path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Descriptors whose /proc/self/fd target satisfies `match`. */
static int count_fds_where(int (*match)(const char *target, size_t len)) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL, "opendir /proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[512], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        n += match(target, (size_t)len);
    }
    closedir(d);
    return n;
}

static int is_mountinfo(const char *t, size_t len) {
    size_t suffix = strlen("/mountinfo");
    return strncmp(t, "/proc/", 6) == 0 && len > suffix && strcmp(t + len - suffix, "/mountinfo") == 0;
}

static int is_lib_fd(const char *t, size_t len) {
    (void)len;
    return strcmp(t, "anon_inode:[eventfd]") == 0 || strncmp(t, test_dir(), strlen(test_dir())) == 0;
}

int mount_watch_fds(void) { return count_fds_where(is_mountinfo); }

int count_fds(void) { return count_dir("/proc/self/fd") - 1 - mount_watch_fds(); }

int count_threads(void) { return count_dir("/proc/self/task"); }

int count_lib_fds(void) { return count_fds_where(is_lib_fd); }

int under_valgrind(void) {
    const char *v = getenv("AOPEN_UNDER_VALGRIND");
    return v != NULL && *v == '1';
}

int readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

long long eventfd_count(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "fopen %s", path);
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "eventfd-count: %llx", &v) == 1)
            break;
    fclose(f);
    CHECK(v >= 0, "fd %d is not an eventfd", fd);
    return v;
}

const char *test_dir(void) {
    const char *d = getenv("AOPEN_TEST_DIR");
    CHECK(d != NULL, "AOPEN_TEST_DIR is not set: run through c-tests/run.sh (make test)");
    return d;
}

static const char *join(const char *sub, const char *name) {
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s%s", test_dir(), sub, name);
    return b;
}

const char *fast_path(const char *name) { return join("", name); }
const char *slow_path(const char *name) { return join("slow/", name); }

void make_file(const char *path, const char *content) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "create %s", path);
    size_t len = strlen(content);
    CHECK(write(fd, content, len) == (ssize_t)len, "write %s", path);
    close(fd);
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

long require_shim(void) {
    const char *pre = getenv("LD_PRELOAD");
    if (pre == NULL || strstr(pre, "slow_open") == NULL)
        SKIP("needs the slow_open shim in LD_PRELOAD");
    const char *ms = getenv("SLOW_OPEN_MS");
    return ms ? atol(ms) : 3000;
}

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
