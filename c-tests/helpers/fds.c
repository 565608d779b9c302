/* Descriptors and threads of this process (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

int wait_threads(int n, int timeout_ms) {
    WAIT_FOR(count_threads() <= n, timeout_ms);
    return count_threads();
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

static struct rlimit fill_saved;
static int fillers[64], nfillers;

int fds_fill(int spare) {
    CHECK(getrlimit(RLIMIT_NOFILE, &fill_saved) == 0, "getrlimit");
    struct rlimit low = {64, fill_saved.rlim_max};
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
    nfillers = 0;
    for (int fd; nfillers < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
        fillers[nfillers++] = fd;
    CHECK(nfillers > spare && nfillers < 64, "filled the descriptor table: %d", nfillers);
    for (int i = 0; i < spare; i++)
        close(fillers[--nfillers]);
    return nfillers;
}

void fds_unfill(void) {
    for (int i = 0; i < nfillers; i++)
        close(fillers[i]);
    nfillers = 0;
    CHECK(setrlimit(RLIMIT_NOFILE, &fill_saved) == 0, "setrlimit back");
}
