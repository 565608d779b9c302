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

struct hangfs_counts {
    /* Calls answered, per op (files in behaviour directories only). */
    long done[HANGFS_OPS];
    /* Calls waiting right now in a delay or a hang, per op. */
    long waiting[HANGFS_OPS];
};

/* The byte at offset `off` of a "big" file. */
static inline unsigned char hangfs_byte(long long off) { return (unsigned char)(off * 7 + off / 4096); }

#endif
