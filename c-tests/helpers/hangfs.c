/* Control of hangfs mounts (c-tests/hangfs) (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    /* Generous: on a loaded 2-CPU machine (a CI run beside a build) a daemon was seen to
     * take over 10 s to come up; this bounds a daemon that never mounts, nothing else. */
    double until = now_ms() + 30000;
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

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

long hangfs_waiting_except(struct hangfs *h, enum hangfs_op op, const int *tids, int n) {
    long w = 0;
    for (int i = 0; i < HANGFS_WAITERS; i++) {
        int tid = __atomic_load_n(&h->counts->waiter[op][i], __ATOMIC_SEQ_CST);
        if (tid != 0 && bsearch(&tid, tids, (size_t)n, sizeof *tids, cmp_int) == NULL)
            w++;
    }
    return w;
}

int thread_ids(int **tids) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir /proc/self/task: %s", strerror(errno));
    int n = 0, room = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == room) {
            room = room ? 2 * room : 256;
            *tids = realloc(*tids, (size_t)room * sizeof **tids);
            CHECK(*tids != NULL, "realloc");
        }
        (*tids)[n++] = atoi(e->d_name);
    }
    closedir(d);
    qsort(*tids, (size_t)n, sizeof **tids, cmp_int);
    return n;
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
