//! Running a call: on a worker ([`run`]), or on the caller's thread when the kernel can
//! finish it from its caches ([`inline`]).

pub mod inline;
pub mod run;
