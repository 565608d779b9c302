//! `aopen_struct_layout`: the byte layout of every struct the C API passes, so that a
//! binding that declares them by hand (Python's ctypes, say) can check its declarations
//! against the library it loaded instead of trusting a header it never saw.

use super::events::aopen_mount_event;
use super::guard::{guard_errno, path_arg};
use super::stats::{aopen_mount_stats, aopen_stats_snapshot};
use super::types::{aopen_completion, aopen_options};
use std::ffi::c_char;
use std::mem::{offset_of, size_of};

/// One struct: its C name, size, and its fields' C names and offsets.
type Layout = (&'static str, usize, &'static [(&'static str, usize)]);

macro_rules! layout {
    ($name:literal, $t:ty, $($f:ident),* $(,)?) => {
        ($name, size_of::<$t>(), &[$((stringify!($f), offset_of!($t, $f))),*])
    };
}

/// glibc's `struct statfs`; the libc crate keeps `f_flags` (the mount flags, which
/// `statvfs`' `f_flag` reports) private, so its offset is the word after `f_frsize`.
const STATFS: Layout = {
    const FIELDS: &[(&str, usize)] = &[
        ("f_type", offset_of!(libc::statfs, f_type)),
        ("f_bsize", offset_of!(libc::statfs, f_bsize)),
        ("f_blocks", offset_of!(libc::statfs, f_blocks)),
        ("f_bfree", offset_of!(libc::statfs, f_bfree)),
        ("f_bavail", offset_of!(libc::statfs, f_bavail)),
        ("f_files", offset_of!(libc::statfs, f_files)),
        ("f_ffree", offset_of!(libc::statfs, f_ffree)),
        ("f_fsid", offset_of!(libc::statfs, f_fsid)),
        ("f_namelen", offset_of!(libc::statfs, f_namelen)),
        ("f_frsize", offset_of!(libc::statfs, f_frsize)),
        ("f_flags", offset_of!(libc::statfs, f_frsize) + size_of::<libc::c_long>()),
    ];
    ("statfs", size_of::<libc::statfs>(), FIELDS)
};

/// The structs and fields of the C API (the kernel's as glibc and the libc crate name them).
const LAYOUTS: &[Layout] = &[
    layout!(
        "aopen_options",
        aopen_options,
        threads,
        max_threads,
        queue_depth,
        timeout_ms,
        flags,
        eventfd,
        per_mount_threads,
        buffer_budget_kib,
        blocked_ms,
        reserved
    ),
    layout!("aopen_completion", aopen_completion, id, user_data, result, op),
    layout!(
        "aopen_stats_snapshot",
        aopen_stats_snapshot,
        submitted,
        delivered,
        cancelled,
        timed_out,
        queued,
        queued_over_share,
        running,
        threads,
        idle_threads,
        abandoned_threads,
        peak_threads,
        mounts,
        per_mount_threads,
        process_abandoned_threads,
        process_abandoned_cap,
        blocked_running,
        queue_wait_us,
        service_us,
        owed_closes,
        inline_completions,
        buffer_bytes,
        abandoned_buffer_bytes,
        mount_events_dropped,
        reserved
    ),
    layout!(
        "aopen_mount_event",
        aopen_mount_event,
        kind,
        stuck,
        mount_id,
        fs_id,
        at_ns,
        stuck_since_ns,
        dropped,
        mount_point,
        fstype,
        source
    ),
    layout!(
        "aopen_mount_stats",
        aopen_mount_stats,
        mount_point,
        fstype,
        mount_id,
        oldest_ms,
        queued,
        running,
        abandoned,
        blocked
    ),
    layout!(
        "statx",
        libc::statx,
        stx_mask,
        stx_blksize,
        stx_attributes,
        stx_nlink,
        stx_uid,
        stx_gid,
        stx_mode,
        stx_ino,
        stx_size,
        stx_blocks,
        stx_attributes_mask,
        stx_atime,
        stx_btime,
        stx_ctime,
        stx_mtime,
        stx_rdev_major,
        stx_rdev_minor,
        stx_dev_major,
        stx_dev_minor,
        stx_mnt_id
    ),
    layout!("statx_timestamp", libc::statx_timestamp, tv_sec, tv_nsec),
    STATFS,
    layout!("timespec", libc::timespec, tv_sec, tv_nsec),
];

/// The byte layout of a struct the C API passes.
///
/// # Parameters
/// - `struct_name`: `"aopen_options"`, `"aopen_completion"`, `"aopen_stats_snapshot"`,
///   `"aopen_mount_stats"`, `"aopen_mount_event"`, or one of the kernel's the calls write: `"statx"`,
///   `"statx_timestamp"`, `"statfs"`, `"timespec"`.
/// - `field_name`: a field's C name, or NULL for the struct itself.
///
/// # Returns
/// The field's byte offset, or the struct's size when `field_name` is NULL; -ENOENT for a
/// struct or field it does not know (private padding included), -EINVAL for a NULL
/// `struct_name`.
///
/// # Thread safety
/// Any thread, any time.
///
/// # Safety
/// `struct_name` and `field_name` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn aopen_struct_layout(struct_name: *const c_char, field_name: *const c_char) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `struct_name` is NULL or NUL-terminated.
        let name = unsafe { path_arg(struct_name) }?.to_bytes();
        let (_, size, fields) = LAYOUTS.iter().find(|l| l.0.as_bytes() == name).ok_or(libc::ENOENT)?;
        if field_name.is_null() {
            return Ok(*size as i64);
        }
        // SAFETY: the caller guarantees `field_name` is NULL (handled) or NUL-terminated.
        let field = unsafe { path_arg(field_name) }?.to_bytes();
        fields.iter().find(|f| f.0.as_bytes() == field).map(|f| f.1 as i64).ok_or(libc::ENOENT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_answer_sizes_offsets_and_unknown_names() {
        let q = |s: &[u8], f: Option<&[u8]>| {
            // SAFETY: NUL-terminated literals.
            unsafe {
                aopen_struct_layout(s.as_ptr().cast(), f.map_or(std::ptr::null(), |f| f.as_ptr().cast()))
            }
        };
        assert_eq!(q(b"aopen_completion\0", None), size_of::<aopen_completion>() as i64);
        assert_eq!(q(b"aopen_completion\0", Some(b"result\0")), offset_of!(aopen_completion, result) as i64);
        assert_eq!(q(b"statx\0", Some(b"stx_size\0")), offset_of!(libc::statx, stx_size) as i64);
        assert_eq!(q(b"statx\0", Some(b"__spare0\0")), -(libc::ENOENT as i64));
        assert_eq!(q(b"nope\0", None), -(libc::ENOENT as i64));
        // f_flags, computed: the word statfs(2) fills with the mount flags, which glibc's
        // statvfs reports as f_flag (read-only /sys here, or not: the two must agree).
        // SAFETY: plain integers; all-zero is valid.
        let (mut st, mut vfs): (libc::statfs, libc::statvfs) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        // SAFETY: NUL-terminated paths and live out-structs.
        assert_eq!(unsafe { libc::statfs(c"/sys".as_ptr(), &mut st) }, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::statvfs(c"/sys".as_ptr(), &mut vfs) }, 0);
        let at = q(b"statfs\0", Some(b"f_flags\0")) as usize;
        assert!(at + size_of::<libc::c_long>() <= size_of::<libc::statfs>());
        // SAFETY: `at` plus a c_long lies inside `st` (checked above).
        let flags = unsafe {
            std::ptr::read_unaligned((&st as *const libc::statfs).cast::<u8>().add(at).cast::<libc::c_long>())
        };
        const ST_VALID: libc::c_long = 0x20;
        assert_ne!(flags & ST_VALID, 0, "f_flags is not where it says ({flags:#x})");
        assert_eq!((flags & !ST_VALID) as u64, vfs.f_flag, "f_flags is not statvfs' f_flag");
        // SAFETY: NULL is allowed.
        let null = unsafe { aopen_struct_layout(std::ptr::null(), std::ptr::null()) };
        assert_eq!(null, -(libc::EINVAL as i64));
    }
}
