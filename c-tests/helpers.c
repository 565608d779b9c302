/* Shared helpers for the C tests (see helpers.h). */
#define _GNU_SOURCE
#include "helpers.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* A descriptor count_fds counts: not the library's mountinfo watch, not the directory being
 * listed, and not a /proc/self/task/TID/stat file, which the library's watchdog opens for a
 * moment to ask whether a worker is asleep (seen here as a transient extra descriptor). */
static int is_counted(const char *t, size_t len) {
    if (is_mountinfo(t, len) || strncmp(t, "/proc/", 6) != 0)
        return !is_mountinfo(t, len);
    size_t stat = strlen("/stat");
    int task_stat = strstr(t, "/task/") != NULL && len > stat && strcmp(t + len - stat, "/stat") == 0;
    int fd_dir = len > 3 && strcmp(t + len - 3, "/fd") == 0;
    return !task_stat && !fd_dir;
}

/* Counted by readlink, so a descriptor closed while the directory is listed is not counted. */
int count_fds(void) { return count_fds_where(is_counted); }

int wait_fds(int n, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    while (count_fds() > n && now_ms() < until)
        sleep_ms(2);
    return count_fds();
}

void dump_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL, "opendir /proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[512], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
        }
    }
    closedir(d);
}

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

int open_close_interposed(void) {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc == NULL)
        return 1;
    const char *names[] = {"open", "open64", "openat", "openat64", "close"};
    int differs = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        differs |= dlsym(RTLD_DEFAULT, names[i]) != dlsym(libc, names[i]);
    dlclose(libc);
    return differs;
}

void without_preload(char **argv) {
    if (getenv("LD_PRELOAD") == NULL)
        return;
    unsetenv("LD_PRELOAD");
    execv(argv[0], argv); /* not /proc/self/exe, which under valgrind is valgrind */
    CHECK(0, "re-exec without LD_PRELOAD: %s", strerror(errno));
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

int wait_stats(aopen_ctx *ctx, uint32_t running, uint32_t queued, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        aopen_stats_snapshot st = stats_of(ctx);
        if (st.running == running && st.queued == queued)
            return 1;
        if (now_ms() >= until)
            return 0;
        sleep_ms(1);
    }
}

int wait_ready(aopen_ctx *ctx, int n, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        int ready = aopen_wait(ctx, 0);
        if (ready < 0 || ready >= n || now_ms() >= until)
            return ready;
        if (ready == 0)
            aopen_wait(ctx, (int)(until - now_ms()) + 1); /* sleeps until the first */
        else
            sleep_ms(1); /* aopen_wait returns at once while any is ready */
    }
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

/* ---- hangfs ---- */

static struct hangfs *mounted[64];
static int n_mounted;

static void kill_daemons(void) {
    for (int i = 0; i < n_mounted; i++)
        hangfs_kill(mounted[i]);
}

struct hangfs *hangfs_mount(const char *name) { return hangfs_mount_as(name, NULL); }

struct hangfs *hangfs_mount_as(const char *name, const char *source) {
    const char *daemon = getenv("AOPEN_HANGFS");
    if (daemon == NULL || access(daemon, X_OK) != 0)
        SKIP("no hangfs daemon (AOPEN_HANGFS): build it with libfuse3-dev installed");
    if (geteuid() != 0)
        SKIP("needs root to mount a FUSE filesystem");
    if (access("/dev/fuse", R_OK | W_OK) != 0)
        SKIP("no /dev/fuse");
    static int in_private_ns;
    if (!in_private_ns) {
        if (unshare(CLONE_NEWNS) != 0)
            SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
        CHECK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0, "make / private: %s", strerror(errno));
        in_private_ns = 1;
        atexit(kill_daemons);
    }
    CHECK(n_mounted < 64, "too many hangfs mounts");
    struct hangfs *h = calloc(1, sizeof *h);
    CHECK(h != NULL, "calloc");
    snprintf(h->mnt, sizeof h->mnt, "%s/%s", test_dir(), name);
    snprintf(h->ctl, sizeof h->ctl, "%s/%s.ctl", test_dir(), name);
    CHECK(mkdir(h->mnt, 0755) == 0 && mkdir(h->ctl, 0755) == 0, "mkdir %s: %s", h->mnt, strerror(errno));
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        execl(daemon, daemon, h->mnt, h->ctl, source, (char *)NULL);
        _exit(127);
    }
    h->pid = pid;
    mounted[n_mounted++] = h;
    char ready[4200];
    snprintf(ready, sizeof ready, "%s/ready", h->ctl);
    double until = now_ms() + 10000;
    while (access(ready, F_OK) != 0) {
        int status;
        CHECK(waitpid(pid, &status, WNOHANG) == 0, "hangfs exited before mounting %s", h->mnt);
        CHECK(now_ms() < until, "hangfs did not mount %s", h->mnt);
        sleep_ms(2);
    }
    snprintf(ready, sizeof ready, "%s/counts", h->ctl);
    int fd = open(ready, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0, "open %s", ready);
    h->counts = mmap(NULL, sizeof *h->counts, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(h->counts != MAP_FAILED, "mmap counts");
    close(fd);
    snprintf(ready, sizeof ready, "%s/dyn", h->ctl);
    fd = open(ready, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0, "open %s", ready);
    h->dyn = mmap(NULL, sizeof *h->dyn, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(h->dyn != MAP_FAILED, "mmap dyn");
    close(fd);
    return h;
}

const char *hangfs_path(struct hangfs *h, const char *rel) {
    static char bufs[8][8200];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", h->mnt, rel);
    return b;
}

void hangfs_release(struct hangfs *h) {
    char p[4200];
    snprintf(p, sizeof p, "%s/release", h->ctl);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "create %s", p);
    close(fd);
}

void hangfs_rehang(struct hangfs *h) {
    char p[4200];
    snprintf(p, sizeof p, "%s/release", h->ctl);
    unlink(p);
}

long hangfs_done(struct hangfs *h, enum hangfs_op op) { return __atomic_load_n(&h->counts->done[op], __ATOMIC_SEQ_CST); }

long hangfs_waiting(struct hangfs *h, enum hangfs_op op) {
    return __atomic_load_n(&h->counts->waiting[op], __ATOMIC_SEQ_CST);
}

long hangfs_wait_waiting(struct hangfs *h, enum hangfs_op op, long waiting, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    while (hangfs_waiting(h, op) < waiting && now_ms() < until)
        sleep_ms(2);
    return hangfs_waiting(h, op);
}

long hangfs_wait_balanced(struct hangfs *h, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        long open = hangfs_done(h, HANGFS_OPEN), rel = hangfs_done(h, HANGFS_RELEASE);
        long busy = hangfs_waiting(h, HANGFS_OPEN) + hangfs_waiting(h, HANGFS_FLUSH) + hangfs_waiting(h, HANGFS_RELEASE);
        if ((open == rel && busy == 0) || now_ms() >= until)
            return open - rel;
        sleep_ms(5);
    }
}

void hangfs_dyn_set(struct hangfs *h, enum hangfs_op op, long mode) {
    __atomic_store_n(&h->dyn->mode[op], mode, __ATOMIC_SEQ_CST);
}

void hangfs_dyn_release(struct hangfs *h, enum hangfs_op op) { __atomic_fetch_add(&h->dyn->gen[op], 1, __ATOMIC_SEQ_CST); }

void hangfs_kill(struct hangfs *h) {
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
        h->pid = 0;
    }
}

/* ---- healthy load ---- */

double longest_call_ms;

static int cmp_ms(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char load_tag;

struct load healthy_load(aopen_ctx *ctx, const char *path, int n, int inflight, int budget_ms, struct others *others) {
    struct load r = {0};
    double *lat = calloc((size_t)n, sizeof *lat), *started = calloc((size_t)n + 1, sizeof *started);
    CHECK(lat != NULL && started != NULL, "calloc");
    int64_t *ids = calloc((size_t)n, sizeof *ids);
    CHECK(ids != NULL, "calloc");
    int submitted = 0, outstanding = 0;
    double t0 = now_ms(), end = t0 + budget_ms;
    struct pollfd p = {.fd = aopen_ctx_fd(ctx), .events = POLLIN};
    aopen_completion c[256];
    while ((r.done + r.failed < n) && now_ms() < end) {
        while (submitted < n && outstanding < inflight) {
            int64_t id = TIMED(aopen_submit(ctx, path, O_RDONLY, 0, NULL, &load_tag));
            if (id == -EAGAIN)
                break;
            CHECK(id > 0, "healthy submit: %lld", (long long)id);
            ids[submitted] = id;
            started[submitted++] = now_ms();
            outstanding++;
        }
        int left = (int)(end - now_ms());
        poll(&p, 1, left < 10 ? (left > 0 ? left : 0) : 10);
        int got = TIMED(aopen_reap(ctx, c, 256));
        CHECK(got >= 0, "reap: %d", got);
        for (int i = 0; i < got; i++) {
            if (c[i].user_data != &load_tag) {
                CHECK(others != NULL && others->n < (int)(sizeof others->v / sizeof others->v[0]), "stray completion");
                others->v[others->n++] = c[i];
                continue;
            }
            outstanding--;
            int k = 0;
            while (k < submitted && ids[k] != (int64_t)c[i].id)
                k++;
            CHECK(k < submitted, "unknown id");
            if (c[i].result >= 0) {
                close(c[i].result);
                lat[r.done++] = now_ms() - started[k];
            } else {
                r.failed++;
            }
        }
    }
    r.wall_ms = now_ms() - t0;
    qsort(lat, (size_t)r.done, sizeof *lat, cmp_ms);
    if (r.done > 0) {
        r.p50_ms = lat[r.done / 2];
        r.p99_ms = lat[(r.done * 99) / 100 < r.done ? (r.done * 99) / 100 : r.done - 1];
    }
    free(lat);
    free(started);
    free(ids);
    return r;
}

int collect_tagged(aopen_ctx *ctx, const struct others *others, const void *tag, int n, int timeout_ms) {
    int got = 0, fds = 0;
    aopen_completion c[256];
    int pending = others ? others->n : 0;
    const aopen_completion *batch = others ? others->v : c;
    double until = now_ms() + timeout_ms;
    for (;;) {
        for (int i = 0; i < pending; i++) {
            const aopen_completion *x = &batch[i];
            if (x->user_data != tag) {
                if (x->op == AOPEN_OP_OPEN && x->result >= 0)
                    close(x->result);
                continue;
            }
            got++;
            if (x->result >= 0) {
                CHECK(aclose_submit(ctx, x->result, NULL, NULL) > 0, "aclose_submit");
                fds++;
            }
        }
        if (got >= n || now_ms() >= until)
            break;
        aopen_wait(ctx, 100);
        pending = aopen_reap(ctx, c, 256);
        CHECK(pending >= 0, "reap: %d", pending);
        batch = c;
    }
    CHECK_EQ(got, n);
    return fds;
}

/* Open addressing over a power-of-two table; ids are never removed. */
#define ID_SLOTS (2 * ID_INDEXES)
static uint64_t id_keys[ID_SLOTS];
static int id_vals[ID_SLOTS];
static uint64_t id_of_index[ID_INDEXES];
static int id_count;

static size_t id_slot(uint64_t id) {
    size_t i = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 40) & (ID_SLOTS - 1);
    while (id_keys[i] != 0 && id_keys[i] != id)
        i = (i + 1) & (ID_SLOTS - 1);
    return i;
}

int id_add(uint64_t id) {
    CHECK(id > 0, "id 0");
    size_t i = id_slot(id);
    CHECK(id_keys[i] == 0, "id %llu handed out twice", (unsigned long long)id);
    CHECK(id_count + 1 < ID_INDEXES, "more than %d ids", ID_INDEXES - 1);
    id_keys[i] = id;
    id_vals[i] = ++id_count;
    id_of_index[id_count] = id;
    return id_count;
}

int id_index(uint64_t id) {
    if (id == 0)
        return 0;
    size_t i = id_slot(id);
    return id_keys[i] == id ? id_vals[i] : 0;
}

uint64_t id_at(int i) { return i > 0 && i <= id_count ? id_of_index[i] : 0; }
