pub fn placeholder() {}
pub mod fuzz;
