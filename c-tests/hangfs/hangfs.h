/* The counters hangfs shares with the tests: a file in the control directory that both map.
 * Every field is updated with __atomic builtins. */
#ifndef AOPEN_HANGFS_H
#define AOPEN_HANGFS_H

enum hangfs_op {
    HANGFS_OPEN,
    HANGFS_FLUSH,
    HANGFS_RELEASE,
    HANGFS_GETATTR,
    HANGFS_READ,
    HANGFS_FSYNC,
    HANGFS_UNLINK,
    HANGFS_MKDIR,
    HANGFS_RENAME,
    HANGFS_TRUNCATE,
    HANGFS_WRITE,
    HANGFS_READDIR,
    HANGFS_READLINK,
    HANGFS_SYMLINK,
    HANGFS_LINK,
    HANGFS_ACCESS,
    HANGFS_STATFS,
    HANGFS_CHMOD,
    HANGFS_CHOWN,
    HANGFS_UTIMENS,
    HANGFS_FALLOCATE,
    HANGFS_COPY_FILE_RANGE,
    HANGFS_OPS
};

/* Waiting calls whose caller is named, per op (past it they are only counted). */
#define HANGFS_WAITERS 1024

struct hangfs_counts {
    /* Calls answered, per op (files in behaviour directories only). */
    long done[HANGFS_OPS];
    /* Calls waiting right now in a delay or a hang, per op. */
    long waiting[HANGFS_OPS];
    /* The thread ids (as the kernel gives FUSE a request's caller) of calls waiting now,
     * per op, in any slot; 0 is a free slot. So a test tells whose call waits: a thread of
     * the library context it runs now, or one of a context it freed. */
    int waiter[HANGFS_OPS][HANGFS_WAITERS];
};

/* Behaviour of files in directories whose name starts with "dyn", chosen at run time: the
 * daemon creates CONTROL_DIR/dyn holding this struct (every mode -1) before it is ready, and
 * the test maps it. Per op: mode -1 answers at once, 0 hangs, MS > 0 delays MS milliseconds.
 * A call reads its op's mode when it arrives, then waits (checked every 5 ms) until the time
 * is up, the mode turns -1, the op's release generation `gen` changes, or CONTROL_DIR/release
 * exists. Every field is updated with __atomic builtins. */
struct hangfs_dyn {
    long mode[HANGFS_OPS];
    long gen[HANGFS_OPS];
};

/* The byte at offset `off` of a "big" file. */
static inline unsigned char hangfs_byte(long long off) { return (unsigned char)(off * 7 + off / 4096); }

#endif
