//! Unit tests of the C boundary's helpers.

use super::ctx::*;
use super::guard::*;
use super::types::*;
use crate::config::Config;
use std::ffi::c_int;

#[test]
fn guard_stops_panics() {
    let r: i64 = guard_errno(|| -> Result<i64, i32> { panic!("boom") });
    assert_eq!(r, -(libc::EIO as i64));
    let r: c_int = guard_errno(|| Err(libc::ENOENT));
    assert_eq!(r, -libc::ENOENT);
}

#[test]
fn options_validation() {
    let zero = aopen_options {
        threads: 0,
        max_threads: 0,
        queue_depth: 0,
        timeout_ms: 0,
        flags: 0,
        eventfd: 0,
        per_mount_threads: 0,
        buffer_budget_kib: 0,
        blocked_ms: 0,
        reserved: [0; 3],
    };
    assert_eq!(config_from(&zero).unwrap(), Config::default());
    assert_eq!(config_from(&aopen_options { flags: 16, ..zero }).unwrap_err(), libc::EINVAL);
    assert!(config_from(&aopen_options { flags: AOPEN_OPT_FAIL_FAST, ..zero }).unwrap().fail_fast);
    assert!(config_from(&aopen_options { flags: AOPEN_OPT_NO_INLINE, ..zero }).unwrap().no_inline);
    assert!(config_from(&aopen_options { flags: AOPEN_OPT_NO_MOUNTS, ..zero }).unwrap().no_mounts);
    let mut r = zero;
    r.reserved[2] = 1;
    assert_eq!(config_from(&r).unwrap_err(), libc::EINVAL);
    assert_eq!(config_from(&aopen_options { blocked_ms: 25, ..zero }).unwrap().blocked_ms, 25);
    let e = config_from(&aopen_options { flags: AOPEN_OPT_EVENTFD, eventfd: 7, ..zero }).unwrap();
    assert_eq!(e.eventfd, Some(7));
}
