/*
 * hangfs: a FUSE filesystem whose calls hang, for testing libaopen against a real kernel
 * filesystem that stops answering (what the LD_PRELOAD shim cannot show: a flush on close,
 * a lookup, a read inside the kernel).
 *
 * Usage: hangfs MOUNTPOINT CONTROL_DIR [SOURCE]
 *
 * With SOURCE ("server:/export"), the mount shows in /proc/self/mountinfo as filesystem type
 * fuse.sshfs with that source, as an sshfs mount of that server would: for tests of
 * grouping network mounts by server.
 *
 * Every name at the root is a directory; every name inside one is a 4 KiB regular file of
 * 'x's, except names starting with "new", which do not exist (for mkdir and rename targets),
 * names starting with "big", 1 MiB files whose byte at offset i is hangfs_byte(i)
 * (hangfs.h), for copies checked byte by byte, and names starting with "lnk", symbolic links
 * to "target-of-<name>". A
 * directory's name says how calls on its files behave: '+'-separated op names out of open,
 * flush, release, getattr (which is also the lookup), read, fsync, unlink, mkdir, rename
 * (by the source's directory), truncate, write, readdir (of the behaviour directory
 * itself), readlink, symlink and link (by the new link's directory), access, statfs, chmod,
 * chown, utimens, fallocate and copy_file_range (by the source's directory); unlink, mkdir,
 * rename, write, symlink, link, chmod, chown, utimens, fallocate and copy_file_range pretend
 * to succeed. A bare op name hangs that call
 * until released; "op-MS" delays it MS milliseconds (or until released, if sooner). Any other
 * name behaves normally. So "open-300+flush" opens in 300 ms and hangs every close.
 *
 * Dynamic: a directory whose name starts with "dyn" behaves as CONTROL_DIR/dyn says at the
 * moment of each call, a struct hangfs_dyn (hangfs.h) that the test maps and changes while
 * calls run: per op, hang, delay or answer, and a release generation that ends the waits of
 * calls already hanging. So a test hangs and releases each op on each mount at moments it
 * picks, without new directories.
 *
 * Released: while CONTROL_DIR/release exists, no call hangs or waits (checked every 5 ms).
 * Counters: CONTROL_DIR/counts holds a struct hangfs_counts (hangfs.h) that the test maps:
 * calls answered and calls waiting now, per op, so a test proves no descriptor leaked
 * (opens == releases) and waits on state instead of sleeping; and the thread ids of the
 * callers waiting, so a test tells whose call waits.
 * Ready: CONTROL_DIR/ready is created once the filesystem is mounted.
 *
 * Entry, attribute and negative timeouts are 0 and every file is direct I/O, so every call
 * reaches the daemon. The session loop runs up to 10000 threads (libfuse's fuse_main keeps
 * 10, which would cap the calls that can hang at once). Needs root and /dev/fuse.
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hangfs.h"

enum { FILE_SIZE = 4096, BIG_SIZE = 1 << 20, MAX_THREADS = 10000 };

/* The size of file `name` (in a behaviour directory). */
static off_t size_of(const char *name) { return strncmp(name, "big", 3) == 0 ? BIG_SIZE : FILE_SIZE; }

static const char *op_names[HANGFS_OPS] = {
    "open",    "flush",   "release", "getattr", "read",   "fsync",  "unlink",   "mkdir",
    "rename",  "truncate", "write",  "readdir", "readlink", "symlink", "link",   "access",
    "statfs",  "chmod",   "chown",   "utimens", "fallocate", "copy_file_range"};
static char release_path[4096];
static struct hangfs_counts *counts;
static struct hangfs_dyn *dyn;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int released(void) { return access(release_path, F_OK) == 0; }

/* How `op` behaves in directory `dir` (a name at the root): -1 normal, 0 hang, > 0 delay. */
static long behaviour(const char *dir, size_t len, enum hangfs_op op) {
    const char *name = op_names[op];
    size_t n = strlen(name);
    const char *p = dir, *end = dir + len;
    while (p < end) {
        const char *tok_end = memchr(p, '+', (size_t)(end - p));
        if (tok_end == NULL)
            tok_end = end;
        if ((size_t)(tok_end - p) >= n && memcmp(p, name, n) == 0) {
            if (p + n == tok_end)
                return 0;
            if (p[n] == '-')
                return strtol(p + n + 1, NULL, 10);
        }
        p = tok_end + 1;
    }
    return -1;
}

/* Splits "/dir/file": 0 root, 1 a directory, 2 a file (dir/dirlen set), -1 no such path. */
static int classify(const char *path, const char **dir, size_t *dirlen) {
    if (strcmp(path, "/") == 0)
        return 0;
    const char *d = path + 1, *slash = strchr(d, '/');
    if (slash == NULL)
        return d[0] == '.' ? -1 : 1;
    if (strchr(slash + 1, '/') != NULL || slash[1] == '\0')
        return -1;
    *dir = d;
    *dirlen = (size_t)(slash - d);
    return 2;
}

/* Counts a call of `op` as waiting and names its caller in a free slot: returns the slot,
 * or -1 if every slot is taken (then it is only counted). */
static int begin_wait(enum hangfs_op op) {
    __atomic_fetch_add(&counts->waiting[op], 1, __ATOMIC_SEQ_CST);
    int tid = (int)fuse_get_context()->pid;
    for (int i = 0; tid > 0 && i < HANGFS_WAITERS; i++) {
        int free_slot = 0;
        if (__atomic_compare_exchange_n(&counts->waiter[op][i], &free_slot, tid, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return i;
    }
    return -1;
}

/* Ends the wait begin_wait counted. */
static void end_wait(enum hangfs_op op, int slot) {
    if (slot >= 0)
        __atomic_store_n(&counts->waiter[op][slot], 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_sub(&counts->waiting[op], 1, __ATOMIC_SEQ_CST);
}

/* Waits as CONTROL_DIR/dyn says for `op` (a call in a "dyn*" directory). */
static void act_dyn(enum hangfs_op op) {
    long ms = __atomic_load_n(&dyn->mode[op], __ATOMIC_SEQ_CST);
    long gen = __atomic_load_n(&dyn->gen[op], __ATOMIC_SEQ_CST);
    if (ms < 0)
        return;
    int slot = begin_wait(op);
    double until = now_ms() + (double)ms;
    while (!released() && __atomic_load_n(&dyn->mode[op], __ATOMIC_SEQ_CST) >= 0 &&
           __atomic_load_n(&dyn->gen[op], __ATOMIC_SEQ_CST) == gen && (ms == 0 || now_ms() < until))
        usleep(5000);
    end_wait(op, slot);
}

/* Applies `op`'s behaviour for a file in `dir`, then counts the call as answered. */
static void act(const char *dir, size_t dirlen, enum hangfs_op op) {
    long ms = behaviour(dir, dirlen, op);
    if (dirlen >= 3 && memcmp(dir, "dyn", 3) == 0) {
        act_dyn(op);
    } else if (ms >= 0) {
        int slot = begin_wait(op);
        double until = now_ms() + (double)ms;
        while (!released() && (ms == 0 || now_ms() < until))
            usleep(5000);
        end_wait(op, slot);
    }
    __atomic_fetch_add(&counts->done[op], 1, __ATOMIC_SEQ_CST);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void)fi;
    const char *dir = NULL;
    size_t dirlen = 0;
    memset(st, 0, sizeof *st);
    switch (classify(path, &dir, &dirlen)) {
    case 0:
    case 1:
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    case 2:
        if (strncmp(dir + dirlen + 1, "new", 3) == 0)
            return -ENOENT;
        act(dir, dirlen, HANGFS_GETATTR);
        st->st_mode = strncmp(dir + dirlen + 1, "lnk", 3) == 0 ? S_IFLNK | 0777 : S_IFREG | 0644;
        st->st_nlink = 1;
        st->st_size = size_of(dir + dirlen + 1);
        return 0;
    default:
        return -ENOENT;
    }
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
    const char *dir = NULL;
    size_t dirlen = 0;
    if (classify(path, &dir, &dirlen) != 2)
        return -EISDIR;
    act(dir, dirlen, HANGFS_OPEN);
    fi->direct_io = 1;
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)fi;
    const char *dir = NULL;
    size_t dirlen = 0;
    if (classify(path, &dir, &dirlen) != 2)
        return -EISDIR;
    act(dir, dirlen, HANGFS_READ);
    off_t total = size_of(dir + dirlen + 1);
    if (off >= total)
        return 0;
    size_t n = size < (size_t)(total - off) ? size : (size_t)(total - off);
    if (total == FILE_SIZE)
        memset(buf, 'x', n);
    else
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)hangfs_byte(off + (off_t)i);
    return (int)n;
}

/* Calls that only act: on files in behaviour directories, then succeed. */
static int on_file(const char *path, enum hangfs_op op) {
    const char *dir = NULL;
    size_t dirlen = 0;
    if (classify(path, &dir, &dirlen) == 2)
        act(dir, dirlen, op);
    return 0;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)buf, (void)off, (void)fi;
    on_file(path, HANGFS_WRITE);
    return (int)size;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    (void)size, (void)fi;
    return on_file(path, HANGFS_TRUNCATE);
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)datasync, (void)fi;
    return on_file(path, HANGFS_FSYNC);
}

static int fs_unlink(const char *path) { return on_file(path, HANGFS_UNLINK); }

static int fs_mkdir(const char *path, mode_t mode) {
    (void)mode;
    return on_file(path, HANGFS_MKDIR);
}

static int fs_rename(const char *from, const char *to, unsigned int flags) {
    (void)to, (void)flags;
    return on_file(from, HANGFS_RENAME);
}

static int fs_flush(const char *path, struct fuse_file_info *fi) {
    (void)fi;
    return on_file(path, HANGFS_FLUSH);
}

static int fs_release(const char *path, struct fuse_file_info *fi) {
    (void)fi;
    return on_file(path, HANGFS_RELEASE);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    (void)off, (void)fi, (void)flags;
    const char *dir = NULL;
    size_t dirlen = 0;
    if (classify(path, &dir, &dirlen) == 1)
        act(path + 1, strlen(path + 1), HANGFS_READDIR);
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    return 0;
}

static int fs_readlink(const char *path, char *buf, size_t size) {
    const char *dir = NULL;
    size_t dirlen = 0;
    if (classify(path, &dir, &dirlen) != 2 || size == 0)
        return -EINVAL;
    act(dir, dirlen, HANGFS_READLINK);
    snprintf(buf, size, "target-of-%s", dir + dirlen + 1);
    return 0;
}

static int fs_symlink(const char *target, const char *link) {
    (void)target;
    return on_file(link, HANGFS_SYMLINK);
}

static int fs_link(const char *from, const char *to) {
    (void)from;
    return on_file(to, HANGFS_LINK);
}

static int fs_access(const char *path, int mask) {
    (void)mask;
    return on_file(path, HANGFS_ACCESS);
}

static int fs_statfs(const char *path, struct statvfs *st) {
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = 4096;
    st->f_namemax = 255;
    return on_file(path, HANGFS_STATFS);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    (void)mode, (void)fi;
    return on_file(path, HANGFS_CHMOD);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    (void)uid, (void)gid, (void)fi;
    return on_file(path, HANGFS_CHOWN);
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    (void)tv, (void)fi;
    return on_file(path, HANGFS_UTIMENS);
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
    (void)mode, (void)off, (void)len, (void)fi;
    return on_file(path, HANGFS_FALLOCATE);
}

static ssize_t fs_copy_file_range(const char *from, struct fuse_file_info *fi_in, off_t off_in, const char *to,
                                  struct fuse_file_info *fi_out, off_t off_out, size_t len, int flags) {
    (void)fi_in, (void)off_in, (void)to, (void)fi_out, (void)off_out, (void)flags;
    on_file(from, HANGFS_COPY_FILE_RANGE);
    return (ssize_t)len;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->direct_io = 1;
    return NULL;
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .truncate = fs_truncate,
    .fsync = fs_fsync,
    .unlink = fs_unlink,
    .mkdir = fs_mkdir,
    .rename = fs_rename,
    .flush = fs_flush,
    .release = fs_release,
    .readdir = fs_readdir,
    .readlink = fs_readlink,
    .symlink = fs_symlink,
    .link = fs_link,
    .access = fs_access,
    .statfs = fs_statfs,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
    .fallocate = fs_fallocate,
    .copy_file_range = fs_copy_file_range,
    .init = fs_init,
};

/* Creates CONTROL_DIR/name of `size` zero bytes and maps it shared; NULL on failure. */
static void *map_control(const char *ctl, const char *name, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ctl, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        perror(path);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        perror("mmap");
        return NULL;
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s MOUNTPOINT CONTROL_DIR [SOURCE]\n", argv[0]);
        return 2;
    }
    /* Never outlive the test that started us: its hung threads end when we die. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(release_path, sizeof release_path, "%s/release", argv[2]);
    char path[4096];
    counts = map_control(argv[2], "counts", sizeof *counts);
    dyn = map_control(argv[2], "dyn", sizeof *dyn);
    if (counts == NULL || dyn == NULL)
        return 1;
    for (int op = 0; op < HANGFS_OPS; op++)
        __atomic_store_n(&dyn->mode[op], -1, __ATOMIC_SEQ_CST);
    char opts[4200];
    snprintf(opts, sizeof opts, "fsname=%s,subtype=sshfs", argc == 4 ? argv[3] : "");
    char *fargv[] = {argv[0], "-o", opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(argc == 4 ? 3 : 1, fargv);
    struct fuse *f = fuse_new(&args, &ops, sizeof ops, NULL);
    if (f == NULL || fuse_mount(f, argv[1]) != 0) {
        fprintf(stderr, "hangfs: cannot mount %s\n", argv[1]);
        return 1;
    }
    fuse_set_signal_handlers(fuse_get_session(f));
    snprintf(path, sizeof path, "%s/ready", argv[2]);
    close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
    fuse_loop_cfg_set_idle_threads(cfg, 16);
    int rc = fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_remove_signal_handlers(fuse_get_session(f));
    fuse_unmount(f);
    fuse_destroy(f);
    return rc == 0 ? 0 : 1;
}
