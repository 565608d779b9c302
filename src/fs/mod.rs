//! Which filesystem holds a path or a descriptor: the mount table and its watch, path
//! resolution, the descriptors the library opened ([`mounts`]), and a small cache of answers
//! about absolute paths ([`pathcache`]).

pub mod mounts;
pub(crate) mod pathcache;
