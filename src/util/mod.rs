//! Small building blocks shared by the storage modules.

pub mod atomic_file;
pub mod codec;
