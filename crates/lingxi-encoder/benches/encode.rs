//! Criterion benchmark placeholder (replaced below).
fn main() {}
