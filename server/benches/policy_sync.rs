//! Time from a ConfigMap event arriving to the new policy answering.
fn main() {}
