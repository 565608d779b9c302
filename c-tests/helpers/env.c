/* The test's environment: its directories and files, the shim, preloading (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int under_valgrind(void) {
    const char *v = getenv("AOPEN_UNDER_VALGRIND");
    return v != NULL && *v == '1';
}

/* The variables env_set changed, with their values before, newest last. */
static struct {
    char *name, *old; /* old NULL: was unset */
} saved_env[16];
static int n_saved_env;

void env_set(const char *name, const char *value) {
    CHECK(n_saved_env < 16, "env_set: more than 16 variables set before env_restore");
    const char *old = getenv(name);
    saved_env[n_saved_env].name = strdup(name);
    saved_env[n_saved_env].old = old ? strdup(old) : NULL;
    n_saved_env++;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

void env_restore(void) {
    while (n_saved_env > 0) {
        n_saved_env--;
        if (saved_env[n_saved_env].old)
            setenv(saved_env[n_saved_env].name, saved_env[n_saved_env].old, 1);
        else
            unsetenv(saved_env[n_saved_env].name);
        free(saved_env[n_saved_env].name);
        free(saved_env[n_saved_env].old);
    }
}
