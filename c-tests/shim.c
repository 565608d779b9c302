/* The slow-open shim itself: every interposed entry point delays paths under the prefix,
 * passes the variadic mode through (O_CREAT), leaves other paths alone, and injects
 * SLOW_OPEN_ERRNO, and ends a hang once the SLOW_OPEN_RELEASE file exists. The other
 * tests' timing claims rest on this. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static void check_created(const char *path, double t0, long delay, int fd) {
    double took = now_ms() - t0;
    CHECK(fd >= 0, "%s: errno %d", path, errno);
    CHECK(took >= delay - 1, "%s took %.0f ms: not delayed", path, took);
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat");
    CHECK_EQ(st.st_mode & 0777, 0640);
    close(fd);
}

static void *release_later(void *path) {
    sleep_ms(300);
    make_file(path, "");
    return NULL;
}

int main(void) {
    require_shim();
    setenv("SLOW_OPEN_MS", "100", 1);
    umask(0);
    char p[4][64];
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof p[i], "%s", slow_path(i == 0 ? "a" : i == 1 ? "b" : i == 2 ? "c" : "d"));

    double t0 = now_ms();
    check_created(p[0], t0, 100, open(p[0], O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
    t0 = now_ms();
    check_created(p[1], t0, 100, open64(p[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
    t0 = now_ms();
    check_created(p[2], t0, 100, openat(AT_FDCWD, p[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
    t0 = now_ms();
    check_created(p[3], t0, 100, openat64(AT_FDCWD, p[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0640));

    /* Paths outside the prefix are not delayed: with a 5 s delay set, half of it is a
     * bound no loaded machine or valgrind comes near for an open of a local file. */
    make_file(fast_path("f"), "x");
    setenv("SLOW_OPEN_MS", "5000", 1);
    t0 = now_ms();
    int fd = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && now_ms() - t0 < 2500, "fast path delayed or failed");
    close(fd);
    setenv("SLOW_OPEN_MS", "100", 1);

    /* Injected errors, by name and by number. */
    setenv("SLOW_OPEN_ERRNO", "EACCES", 1);
    CHECK(open(p[0], O_RDONLY | O_CLOEXEC) == -1 && errno == EACCES, "EACCES by name");
    setenv("SLOW_OPEN_ERRNO", "5", 1);
    CHECK(openat(AT_FDCWD, p[0], O_RDONLY | O_CLOEXEC) == -1 && errno == EIO, "EIO by number");
    unsetenv("SLOW_OPEN_ERRNO");

    /* A 60 s hang that another thread ends after 300 ms by creating the release file. */
    const char *release = fast_path("release");
    setenv("SLOW_OPEN_MS", "60000", 1);
    setenv("SLOW_OPEN_RELEASE", release, 1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, release_later, (void *)release) == 0, "pthread_create");
    t0 = now_ms();
    fd = open(p[0], O_RDONLY | O_CLOEXEC);
    double took = now_ms() - t0;
    CHECK(fd >= 0 && took >= 290 && took < 5000, "released hang took %.0f ms (fd %d)", took, fd);
    close(fd);
    pthread_join(t, NULL);
    t0 = now_ms();
    fd = open(p[0], O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && now_ms() - t0 < 1000, "the release file did not end the next hang at once");
    close(fd);
    return 0;
}
