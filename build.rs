//! Gives the shared library its soname, libaopen.so.MAJOR, so that programs linked against
//! an installed libaopen keep working across compatible upgrades.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libaopen.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
