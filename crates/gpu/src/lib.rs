//! The GPU Detector (research: shared/research/gpu.md §1 and §6).
//!
//! Identity comes from sysfs and procfs — PCI class and vendor, `/proc/driver/nvidia/gpus/*/
//! information`, amdgpu sysfs, the KFD topology, DRM nodes — read through a configurable root so
//! that tests run on fixture trees ([`probe::Detector`]). Everything else in this crate is pure
//! parsing ([`pci`], [`nvidia`], [`amd`]), plus two optional enrichment sources the agent applies
//! on a real host: NVML loaded at run time ([`nvml`]) and `rocm-smi --json` ([`rocm_smi`]).
//! Precedence for a field several sources know: NVML over nvidia-smi over procfs/sysfs (NVIDIA);
//! sysfs/KFD over rocm-smi, which only fills gaps (AMD). Rules that hold everywhere:
//! - GPUs are keyed by UUID, else by PCI address — never by device minor or DRM card number,
//!   which can change across boots.
//! - An unknown value is `None`, never 0, and every value that is known records its source.
//! - Bad or missing files produce warnings, never a panic and never a made-up value.

pub mod amd;
pub mod handoff;
pub mod model;
pub mod nvidia;
pub mod nvml;
pub mod pci;
pub mod probe;
pub mod render;
pub mod request;
pub mod rocm_smi;
pub mod telemetry;

pub use model::*;
pub use probe::Detector;
