/* An open the library makes answers exactly what open(2) answers, whatever the flags and
 * whatever the path reaches. A seeded random differential: each case draws open flags (an
 * access mode, 3 included; each of O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK,
 * O_DSYNC, O_SYNC, O_ASYNC, O_DIRECT, O_LARGEFILE (the kernel's bit: glibc's is 0 on 64-bit),
 * O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_CLOEXEC, O_PATH, O_TMPFILE, and its __O_TMPFILE half
 * alone (EINVAL from open(2)); sometimes a bit the
 * kernel does not know) and a path of one kind (a file of the test's own, a read-only one,
 * one with no permission, one under a directory that may not be searched, a directory,
 * symlinks to a file and to a directory, a dangling symlink, a FIFO with a peer, a FIFO
 * without one (only opens that cannot block on it), /dev/null, a missing name; relative or
 * absolute), and opens it six ways: open(2) with O_CLOEXEC (which the library always adds),
 * aopen_open_nowait, aopen_open_nowait_statx (-EAGAIN, "submit it", is allowed of both),
 * aopen_open_nowait else aopen_submit, aopen_submit on a quiet context (its fast path), and
 * the pool alone (AOPEN_OPT_NO_INLINE, aopen_submit and aopen_dispatch). Each answer must be
 * open(2)'s: the same errno, or a descriptor of the same kind of file (the same file, by
 * device and inode, unless the open may create one) with the same F_GETFL and F_GETFD. A
 * name an open may create is removed before each way. Run as root, the test drops to nobody
 * once the files are made, so permissions apply (EACCES; EPERM for O_NOATIME on a file not
 * its own).
 *
 * Half the cases run in a world on the test directory's filesystem, half in a world on a
 * tmpfs (mounted, as root, in a mount namespace of the test's own; else skipped with a
 * note), where an open that creates or truncates goes inline too.
 *
 * OPEN_FLAGS_SEED=S replays a run; OPEN_FLAGS_CASES=N sets the cases (default 4000). */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static uint64_t below(uint64_t n) { return n ? next_rand() % n : 0; }
static int chance(int percent) { return (int)below(100) < percent; }

/* The kernel's O_LARGEFILE (found in main) and O_TMPFILE without O_DIRECTORY. */
static int k_largefile;
#define K_TMPFILE (O_TMPFILE & ~O_DIRECTORY)

static const struct {
    int bit;
    const char *name;
} named[] = {
    {O_CREAT, "O_CREAT"},         {O_EXCL, "O_EXCL"},         {O_NOCTTY, "O_NOCTTY"},
    {O_TRUNC, "O_TRUNC"},         {O_APPEND, "O_APPEND"},     {O_NONBLOCK, "O_NONBLOCK"},
    {O_DSYNC, "O_DSYNC"},         {O_SYNC, "O_SYNC"},         {O_ASYNC, "O_ASYNC"},
    {O_DIRECT, "O_DIRECT"},       {0, "O_LARGEFILE"},         {O_DIRECTORY, "O_DIRECTORY"},
    {O_NOFOLLOW, "O_NOFOLLOW"},   {O_NOATIME, "O_NOATIME"},   {O_CLOEXEC, "O_CLOEXEC"},
    {O_PATH, "O_PATH"},           {K_TMPFILE, "__O_TMPFILE"}, {O_TMPFILE, "O_TMPFILE"},
};
#define NAMED (int)(sizeof named / sizeof named[0])
static int bit_of(int i) { return named[i].bit ? named[i].bit : k_largefile; }

/* Every bit the kernel knows (VALID_OPEN_FLAGS). */
static int known_bits(void) {
    int known = O_ACCMODE;
    for (int i = 0; i < NAMED; i++)
        known |= bit_of(i);
    return known;
}

/* `flags` spelled out, in a static buffer. */
static const char *flag_names(int flags) {
    static char buf[512];
    static const char *acc[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
    int n = snprintf(buf, sizeof buf, "%s", acc[flags & O_ACCMODE]);
    flags &= ~O_ACCMODE;
    for (int i = NAMED - 1; i >= 0; i--) /* O_TMPFILE before O_DIRECTORY, O_SYNC before O_DSYNC */
        if (bit_of(i) && (flags & bit_of(i)) == bit_of(i)) {
            n += snprintf(buf + n, sizeof buf - (size_t)n, "|%s", named[i].name);
            flags &= ~bit_of(i);
        }
    if (flags)
        snprintf(buf + n, sizeof buf - (size_t)n, "|%#x", (unsigned)flags);
    return buf;
}

/* A random set of flags: an access mode, each named flag now and then, O_PATH and an
 * unknown bit more often (the fast path's failures). */
static int random_flags(void) {
    int flags = (int)below(4);
    for (int i = 0; i < NAMED; i++) {
        int bit = bit_of(i);
        int p = bit == O_PATH ? 25 : bit == O_TMPFILE ? 4 : bit == K_TMPFILE ? 3 : bit == O_CREAT ? 12 : 15;
        if (bit && chance(p))
            flags |= bit;
    }
    if (chance(20)) {
        int unknown = ~known_bits(), bit;
        do
            bit = (int)(1u << below(32));
        while (!(unknown & bit));
        flags |= bit;
    }
    return flags;
}

/* The kinds of path, each a name in the world directory (but /dev/null). */
enum kind { FILE_OWN, FILE_RO, NOPERM, LOCKED, DIRECTORY, LINK, DIRLINK, DANGLING, FIFO, LONELY, DEVNULL, MISSING, KINDS };
static const char *kind_path[KINDS] = {"file",  "ro",   "noperm", "locked/f", "dir",       "link",
                                       "dlink", "dangling", "fifo", "lonely", "/dev/null", "missing"};
static char worlds[2][4096]; /* on the test directory's filesystem; on a tmpfs ("" if none) */
static const char *world;

/* An open of the FIFO nobody holds that would wait for a peer (O_PATH opens nothing; a
 * read-write open never waits; O_NONBLOCK never does). */
static int would_block(enum kind k, int flags) {
    int acc = flags & O_ACCMODE;
    return k == LONELY && !(flags & O_PATH) && !(flags & O_NONBLOCK) && (acc == O_RDONLY || acc == O_WRONLY);
}

/* What an open answered: -errno, or a descriptor's flags and file (the descriptor closed). */
struct answer {
    int r, fl, fdfl;
    mode_t type;
    dev_t dev;
    ino_t ino;
};
static struct answer take(int r) {
    struct answer a = {.r = r < 0 ? r : 0};
    if (r >= 0) {
        struct stat st;
        a.fl = fcntl(r, F_GETFL);
        a.fdfl = fcntl(r, F_GETFD);
        CHECK(fstat(r, &st) == 0, "fstat of an opened descriptor: %s", strerror(errno));
        a.type = st.st_mode & S_IFMT;
        a.dev = st.st_dev;
        a.ino = st.st_ino;
        close(r);
    }
    return a;
}
static void show(const char *way, const struct answer *a) {
    if (a->r < 0)
        fprintf(stderr, "    %-16s %s\n", way, strerror(-a->r));
    else
        fprintf(stderr, "    %-16s fd, F_GETFL %s, F_GETFD %#x, type %#o, ino %lu\n", way, flag_names(a->fl),
                (unsigned)a->fdfl, (unsigned)a->type, (unsigned long)a->ino);
}

static uint64_t seed;
static long cases, mismatches, answered_inline, inline_fds, handed_on, fds, errors;
static int cur_flags;
static const char *cur_path;

/* Whether `got` is `want`'s answer; reports a mismatch. */
static void compare(const char *way, const struct answer *want, const struct answer *got) {
    int creates = cur_flags & (O_CREAT | K_TMPFILE);
    int same = want->r == got->r &&
               (want->r < 0 || (want->fl == got->fl && want->fdfl == got->fdfl && want->type == got->type &&
                                (creates || (want->dev == got->dev && want->ino == got->ino))));
    if (same)
        return;
    if (mismatches++ < 12) {
        fprintf(stderr, "MISMATCH (seed %llu, OPEN_FLAGS_SEED=%llu to replay) case %ld: open(\"%s\", %s):\n",
                (unsigned long long)seed, (unsigned long long)seed, cases, cur_path, flag_names(cur_flags));
        show("open(2)", want);
        show(way, got);
    }
}

/* Removes what an open may have created (by O_CREAT, through the dangling link too). */
static void reset(void) {
    char p[4200];
    snprintf(p, sizeof p, "%s/missing", world);
    unlink(p);
    snprintf(p, sizeof p, "%s/nowhere", world);
    unlink(p);
}

static aopen_ctx *ictx, *pctx; /* default (inline allowed), and pool only */
static const mode_t MODE = 0640;

/* The completion of `id` (the only one outstanding on `ctx`), reaped. */
static int reaped(aopen_ctx *ctx, int64_t id) { return result_of(ctx, id); }

static void on_done(const aopen_completion *c) { *(int *)c->user_data = c->result; }

/* The pool alone: aopen_submit on the AOPEN_OPT_NO_INLINE context, delivered by dispatch. */
static int pool_open(const char *path, int flags) {
    int r = -ETIME;
    int64_t id = aopen_submit(pctx, path, flags, MODE, on_done, &r);
    CHECK(id > 0, "aopen_submit: %lld", (long long)id);
    double until = now_ms() + 10000;
    while (r == -ETIME && now_ms() < until) {
        CHECK(aopen_wait(pctx, 1000) >= 0, "aopen_wait");
        CHECK(aopen_dispatch(pctx, 1) >= 0, "aopen_dispatch");
    }
    CHECK(r != -ETIME, "no completion in 10 s");
    return r;
}

static void one_case(const char *path, int flags) {
    cur_flags = flags;
    cur_path = path;
    reset();
    int fd = open(path, flags | O_CLOEXEC, MODE);
    struct answer want = take(fd >= 0 ? fd : -errno);
    want.r < 0 ? errors++ : fds++;

    /* The fast path alone: its answer, or -EAGAIN (submit it). */
    reset();
    int r = aopen_open_nowait(ictx, path, flags, MODE);
    if (r == -EAGAIN) {
        handed_on++;
    } else {
        answered_inline++;
        inline_fds += r >= 0;
        struct answer got = take(r);
        compare("open_nowait", &want, &got);
    }
    reset();
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    r = aopen_open_nowait_statx(ictx, path, flags, MODE, &stx);
    if (r != -EAGAIN) {
        fd = r;
        struct answer got = take(r);
        compare("open_nowait_statx", &want, &got);
        if (fd >= 0 && (stx.stx_ino != got.ino || (stx.stx_mode & S_IFMT) != got.type)) {
            mismatches++;
            fprintf(stderr, "MISMATCH (seed %llu) case %ld: open_nowait_statx(\"%s\", %s): statx ino %llu mode %#o, "
                    "fstat ino %lu type %#o\n", (unsigned long long)seed, cases, path, flag_names(flags),
                    (unsigned long long)stx.stx_ino, (unsigned)stx.stx_mode, (unsigned long)got.ino,
                    (unsigned)got.type);
        }
    }

    /* Nowait, else submit: what a loop does. */
    reset();
    r = aopen_open_nowait(ictx, path, flags, MODE);
    if (r == -EAGAIN)
        r = reaped(ictx, aopen_submit(ictx, path, flags, MODE, NULL, NULL));
    struct answer got = take(r);
    compare("nowait|submit", &want, &got);

    /* Submit on a quiet context: the fast path inside submit. */
    reset();
    got = take(reaped(ictx, aopen_submit(ictx, path, flags, MODE, NULL, NULL)));
    compare("submit (quiet)", &want, &got);

    /* The pool alone. */
    reset();
    got = take(pool_open(path, flags));
    compare("pool", &want, &got);
    cases++;
}

/* Makes world `w` in directory `base`: each kind's path, owned by `uid` (when root) unless
 * it is root's. */
static void make_world(int w, const char *base, uid_t uid, int *fifo_keeper) {
    snprintf(worlds[w], sizeof worlds[w], "%s/w", base);
    world = worlds[w];
    CHECK(mkdir(world, 0755) == 0, "mkdir %s", world);
    CHECK(chdir(world) == 0, "chdir");
    make_file("file", "a file of the test's own\n");
    make_file("ro", "read only\n");
    CHECK(chmod("ro", 0444) == 0, "chmod");
    make_file("noperm", "no permission\n");
    CHECK(chmod("noperm", 0) == 0, "chmod");
    CHECK(mkdir("locked", 0755) == 0, "mkdir");
    make_file("locked/f", "behind a directory that may not be searched\n");
    CHECK(chmod("locked", 0) == 0, "chmod");
    CHECK(mkdir("dir", 0755) == 0, "mkdir");
    CHECK(symlink("file", "link") == 0 && symlink("dir", "dlink") == 0 && symlink("nowhere", "dangling") == 0,
          "symlink");
    CHECK(mkfifo("fifo", 0666) == 0 && mkfifo("lonely", 0666) == 0, "mkfifo");
    /* A reader and a writer for "fifo" all along: no open of it waits for a peer. */
    *fifo_keeper = open("fifo", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    CHECK(*fifo_keeper >= 0, "open fifo");
    if (geteuid() == 0) {
        /* The test's own: the world directory (names are created and removed in it), its
         * file, directory, links and FIFOs; root's: "ro", "noperm", "locked" and /dev/null. */
        const char *own[] = {".", "file", "dir", "link", "dlink", "dangling", "fifo", "lonely"};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
            CHECK(lchown(own[i], uid, uid) == 0, "lchown %s", own[i]);
        CHECK(chmod(base, 0755) == 0, "chmod %s", base);
    }
}

/* A tmpfs at test_dir()/tmpfs, in a mount namespace of this process's own (gone with it):
 * the directory, or NULL (with the reason printed) where it cannot be made. */
static const char *mount_tmpfs(void) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/tmpfs", test_dir());
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mkdir(dir, 0755) != 0 || mount("aopen-open-flags", dir, "tmpfs", 0, "mode=0755") != 0) {
        printf("no tmpfs world (needs root and a mount namespace: %s): every case on %s\n", strerror(errno),
               test_dir());
        return NULL;
    }
    return dir;
}

int main(int argc, char **argv) {
    (void)argc;
    without_preload(argv); /* the fast path stays off while an interposer of open is loaded */
    if (open_close_interposed())
        SKIP("open or close is interposed even without LD_PRELOAD (a sanitizer runtime?): no fast path");

    /* The kernel's O_LARGEFILE: forced on every open of a 64-bit process, so F_GETFL shows it. */
    int probe = open("/", O_RDONLY | O_CLOEXEC);
    CHECK(probe >= 0, "open /");
    k_largefile = (fcntl(probe, F_GETFL) & ~(O_ACCMODE | O_DIRECTORY)) | O_LARGEFILE;
    close(probe);

    int keeper[2] = {-1, -1};
    uid_t nobody = 65534;
    const char *tmpfs = mount_tmpfs();
    if (tmpfs)
        make_world(1, tmpfs, nobody, &keeper[1]);
    make_world(0, test_dir(), nobody, &keeper[0]);
    const char *who = "as its own user";
    if (geteuid() == 0) {
        if (setgroups(0, NULL) == 0 && setresgid(nobody, nobody, nobody) == 0 &&
            setresuid(nobody, nobody, nobody) == 0) {
            prctl(PR_SET_DUMPABLE, 1); /* (/proc/self stays its own) */
            who = "as nobody (dropped from root)";
        } else {
            who = "as root (could not drop to nobody: no EACCES, no EPERM from O_NOATIME)";
        }
    }

    aopen_options o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    CHECK_EQ(aopen_ctx_new(&o, &ictx), 0);
    o.flags = AOPEN_OPT_NO_INLINE;
    CHECK_EQ(aopen_ctx_new(&o, &pctx), 0);

    long n = getenv("OPEN_FLAGS_CASES") ? atol(getenv("OPEN_FLAGS_CASES")) : 4000;
    if (under_valgrind())
        n /= 20;
    seed = getenv("OPEN_FLAGS_SEED") ? strtoull(getenv("OPEN_FLAGS_SEED"), NULL, 0)
                                     : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 32;
    rng = seed ? seed : 1;
    printf("seed %llu (OPEN_FLAGS_SEED=%llu to replay), %s\n", (unsigned long long)seed,
           (unsigned long long)seed, who);
    fflush(stdout);

    double t0 = now_ms();
    char abs_path[4200];
    while (cases < n) {
        int w = tmpfs && cases >= n / 2; /* the second half in the tmpfs world */
        if (world != worlds[w]) {
            reset();
            world = worlds[w];
            CHECK(chdir(world) == 0, "chdir %s", world);
        }
        enum kind k = (enum kind)below(KINDS);
        int flags = random_flags();
        if (would_block(k, flags))
            continue;
        const char *path = kind_path[k];
        if (k != DEVNULL && chance(50)) {
            snprintf(abs_path, sizeof abs_path, "%s/%s", world, path);
            path = abs_path;
        }
        one_case(path, flags);
    }
    reset();
    chmod("locked", 0755); /* (fails as nobody; root removes the directory anyway) */
    printf("%ld cases (%ld descriptors, %ld errors from open(2)), %ld fast-path answers (%ld descriptors), "
           "%ld handed on, %ld mismatches, in %.1f s\n",
           cases, fds, errors, answered_inline, inline_fds, handed_on, mismatches, (now_ms() - t0) / 1000);
    aopen_ctx_free(ictx);
    aopen_ctx_free(pctx);
    close(keeper[0]);
    if (keeper[1] >= 0)
        close(keeper[1]);
    return mismatches ? 1 : 0;
}
