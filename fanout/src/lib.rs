pub mod backplane;
