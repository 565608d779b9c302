/*
 * slow_open.so: an LD_PRELOAD shim that makes opens slow (or fail) for chosen paths, so
 * libaopen's concurrency claims are tested against a really slow filesystem.
 *
 * It interposes open, open64, openat, openat64 and glibc's fortified __open_2/__open64_2.
 * For a path that starts with SLOW_OPEN_PREFIX (default "/tmp/") it sleeps SLOW_OPEN_MS
 * milliseconds (default 3000), then either fails with SLOW_OPEN_ERRNO (a number, or a name
 * such as ENOENT, EMFILE; unset = no failure) or calls the real function found through
 * dlsym(RTLD_NEXT). Other paths go straight through. The environment is read on each call.
 *
 * A hang that a test can end: with SLOW_OPEN_RELEASE set to a path, every delay (open or
 * close) also ends as soon as that file exists (checked every 10 ms), so a test can hang
 * opens "forever" (a large SLOW_OPEN_MS) and then let them all return at a moment it picks.
 *
 * Fault injection for the reliability tests:
 * - close(fd) of a descriptor whose path (from /proc/self/fd) starts with the prefix sleeps
 *   SLOW_CLOSE_MS, then fails with SLOW_CLOSE_ERRNO if set, after really closing it when
 *   that errno is EINTR (as Linux does).
 * - pthread_create fails with EAGAIN once FAIL_PTHREAD_CREATE_AFTER more threads have been
 *   created since that variable was last changed ("0": fail every call).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* open(2) reads the mode argument only for these flags (as glibc's __OPEN_NEEDS_MODE). */
#define NEEDS_MODE(flags) (((flags) & O_CREAT) != 0 || ((flags) & __O_TMPFILE) == __O_TMPFILE)

static const struct { const char *name; int value; } errno_names[] = {
    {"ENOENT", ENOENT}, {"EACCES", EACCES}, {"EIO", EIO},       {"EMFILE", EMFILE},
    {"ENFILE", ENFILE}, {"EINTR", EINTR},   {"ENOMEM", ENOMEM}, {"ENOSPC", ENOSPC},
    {"EPERM", EPERM},   {"ESTALE", ESTALE}, {"ETIMEDOUT", ETIMEDOUT},
};

static int env_errno_of(const char *var) {
    const char *s = getenv(var);
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (strcmp(s, errno_names[i].name) == 0)
            return errno_names[i].value;
    return atoi(s);
}

static int env_errno(void) { return env_errno_of("SLOW_OPEN_ERRNO"); }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Sleeps `ms` milliseconds, or until the SLOW_OPEN_RELEASE file exists. */
static void delay_ms(long ms) {
    const char *release = getenv("SLOW_OPEN_RELEASE");
    if (release == NULL || *release == '\0') {
        sleep_ms(ms);
        return;
    }
    for (long left = ms; left > 0 && access(release, F_OK) != 0; left -= 10)
        sleep_ms(left < 10 ? left : 10);
}

/* Delays (and maybe fails) an open of `path`: returns 0 to go on, or -1 with errno set. */
static int slow_down(const char *path) {
    const char *prefix = getenv("SLOW_OPEN_PREFIX");
    if (prefix == NULL)
        prefix = "/tmp/";
    if (path == NULL || *prefix == '\0' || strncmp(path, prefix, strlen(prefix)) != 0)
        return 0;
    const char *ms = getenv("SLOW_OPEN_MS");
    int saved = errno;
    delay_ms(ms != NULL ? atol(ms) : 3000);
    int fail = env_errno();
    if (fail != 0) {
        errno = fail;
        return -1;
    }
    errno = saved;
    return 0;
}

static mode_t mode_arg(int flags, va_list ap) {
    return NEEDS_MODE(flags) ? (mode_t)va_arg(ap, unsigned int) : 0;
}

#define REAL(name, type)                                                                    \
    static type real_##name;                                                                \
    if (real_##name == NULL)                                                                \
        real_##name = (type)dlsym(RTLD_NEXT, #name);                                        \
    if (real_##name == NULL) {                                                              \
        errno = ENOSYS;                                                                     \
        return -1;                                                                          \
    }

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);

/* open/open64 and openat/openat64: the mode is variadic and read only when needed. */
#define WRAP_OPEN(name)                                                                     \
    int name(const char *path, int flags, ...) {                                            \
        va_list ap;                                                                         \
        va_start(ap, flags);                                                                \
        mode_t mode = mode_arg(flags, ap);                                                  \
        va_end(ap);                                                                         \
        REAL(name, open_fn);                                                                \
        return slow_down(path) < 0 ? -1 : real_##name(path, flags, mode);                   \
    }

#define WRAP_OPENAT(name)                                                                   \
    int name(int dirfd, const char *path, int flags, ...) {                                 \
        va_list ap;                                                                         \
        va_start(ap, flags);                                                                \
        mode_t mode = mode_arg(flags, ap);                                                  \
        va_end(ap);                                                                         \
        REAL(name, openat_fn);                                                              \
        return slow_down(path) < 0 ? -1 : real_##name(dirfd, path, flags, mode);            \
    }

WRAP_OPEN(open)
WRAP_OPEN(open64)
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)

int __open_2(const char *path, int flags) {
    REAL(__open_2, open2_fn);
    return slow_down(path) < 0 ? -1 : real___open_2(path, flags);
}

int __open64_2(const char *path, int flags) {
    REAL(__open64_2, open2_fn);
    return slow_down(path) < 0 ? -1 : real___open64_2(path, flags);
}

typedef int (*close_fn)(int);

int close(int fd) {
    REAL(close, close_fn);
    const char *prefix = getenv("SLOW_OPEN_PREFIX");
    const char *ms = getenv("SLOW_CLOSE_MS");
    int fail = env_errno_of("SLOW_CLOSE_ERRNO");
    if (prefix == NULL || *prefix == '\0' || (ms == NULL && fail == 0))
        return real_close(fd);
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return real_close(fd);
    target[n] = '\0';
    if (strncmp(target, prefix, strlen(prefix)) != 0)
        return real_close(fd);
    if (ms != NULL)
        delay_ms(atol(ms));
    if (fail == 0)
        return real_close(fd);
    if (fail == EINTR)
        real_close(fd); /* Linux releases the descriptor even when close reports EINTR */
    errno = fail;
    return -1;
}

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    REAL(pthread_create, pthread_create_fn);
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char seen[32];
    static long left = -1; /* -1: no limit */
    pthread_mutex_lock(&lock);
    const char *after = getenv("FAIL_PTHREAD_CREATE_AFTER");
    if (after == NULL) {
        left = -1;
        seen[0] = '\0';
    } else if (strncmp(after, seen, sizeof seen) != 0) { /* changed: start counting again */
        snprintf(seen, sizeof seen, "%s", after);
        left = atol(after);
    }
    int refuse = left == 0;
    if (left > 0)
        left--;
    pthread_mutex_unlock(&lock);
    return refuse ? EAGAIN : real_pthread_create(t, attr, fn, arg);
}
