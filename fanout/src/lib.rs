pub mod backplane;
pub mod clock;
pub mod memory;
