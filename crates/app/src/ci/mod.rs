//! CI use-cases. `predefined` computes GitLab's predefined `CI_*` variables; pipeline creation,
//! the job queue and the runner API build on it.

pub mod predefined;
pub mod runners;
