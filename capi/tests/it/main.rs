//! The C ABI's one integration-test binary: the extern functions called from Rust (`ffi`), and
//! the header and the C example program compiled with the system C compiler (`c`).

mod c;
mod common;
mod ffi;
