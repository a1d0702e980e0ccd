//! Read-only views of the fleet for the administration pages: the GPUs a runner last reported,
//! each in words (key, model, memory, health, MIG instances) and with the job that holds it now.
//! Pure readings of a [`FleetRunner`] that `gpu_fleet` (administrators only) returned.

use super::gpus::FleetRunner;
use autogit_core::JobId;
use autogit_gpu::{GpuHealth, HostInventory, Vendor};

/// One GPU of a runner as the fleet pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetGpu {
    /// The allocation key: the UUID, else `pci:<address>` (what allocations name).
    pub key: String,
    /// `nvidia`, `amd`, `intel`; `None` for a held GPU the inventory no longer lists.
    pub vendor: Option<&'static str>,
    pub product_name: Option<String>,
    pub memory_total_bytes: Option<u64>,
    pub pci_address: Option<String>,
    /// In words, as `autogit gpu detect` prints it: `ready`, `no driver`, `wrong driver (x)`,
    /// `excluded`, `MIG pending`; `no longer reported` for a held GPU that went away.
    pub health: String,
    /// Whether it can be given to jobs.
    pub ready: bool,
    /// Its MIG instances: the profile (`1g.10gb`) when known, else `GI <n>`.
    pub mig: Vec<String>,
    /// The job holding it now.
    pub held_by: Option<JobId>,
}

impl FleetRunner {
    /// The reported inventory, if the runner sent one that reads.
    fn host_inventory(&self) -> Option<HostInventory> {
        serde_json::from_str(&self.inventory.as_ref()?.inventory).ok()
    }

    /// The architectures the runner runs (native first), as it reported them.
    pub fn architectures(&self) -> Vec<String> {
        self.inventory.as_ref().map(|i| i.architectures.clone()).unwrap_or_default()
    }

    /// The detector's warnings of the last inventory.
    pub fn inventory_warnings(&self) -> Vec<String> {
        self.host_inventory().map(|i| i.warnings).unwrap_or_default()
    }

    /// The runner's GPUs in the order reported, then any GPU still held that the inventory no
    /// longer lists (its job keeps it until it ends).
    pub fn gpus(&self) -> Vec<FleetGpu> {
        let holder =
            |key: &str| self.allocations.iter().find(|(_, keys)| keys.iter().any(|k| k == key)).map(|(j, _)| *j);
        let mut out: Vec<FleetGpu> = self
            .host_inventory()
            .map(|i| i.gpus)
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                let key = g.key.to_string();
                FleetGpu {
                    held_by: holder(&key),
                    key,
                    vendor: Some(match g.vendor {
                        Vendor::Nvidia => "nvidia",
                        Vendor::Amd => "amd",
                        Vendor::Intel => "intel",
                    }),
                    product_name: g.product_name.clone(),
                    memory_total_bytes: g.memory_total_bytes,
                    pci_address: Some(g.pci.address.to_string()),
                    ready: g.health.is_ready(),
                    health: health_words(&g.health),
                    mig: g
                        .mig_instances
                        .iter()
                        .map(|m| m.profile.clone().unwrap_or_else(|| format!("GI {}", m.gi)))
                        .collect(),
                }
            })
            .collect();
        for (job, keys) in &self.allocations {
            for k in keys {
                if !out.iter().any(|g| &g.key == k) {
                    out.push(FleetGpu {
                        key: k.clone(),
                        vendor: None,
                        product_name: None,
                        memory_total_bytes: None,
                        pci_address: None,
                        health: "no longer reported".into(),
                        ready: false,
                        mig: Vec::new(),
                        held_by: Some(*job),
                    });
                }
            }
        }
        out
    }
}

/// A GPU's health as `autogit gpu detect` words it.
fn health_words(h: &GpuHealth) -> String {
    match h {
        GpuHealth::Ready => "ready".into(),
        GpuHealth::NoDriver => "no driver".into(),
        GpuHealth::WrongDriver(d) => format!("wrong driver ({d})"),
        GpuHealth::Excluded => "excluded".into(),
        GpuHealth::MigPending => "MIG pending".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_gpu::{DetectedGpu, GpuKey, MigInstance};
    use autogit_store::{Runner, RunnerAccessLevel, RunnerInventory, RunnerScope};
    use chrono::DateTime;

    fn runner() -> Runner {
        Runner {
            id: autogit_core::RunnerId::new(1),
            description: String::new(),
            token_digest: String::new(),
            scope: RunnerScope::Instance,
            tags: Vec::new(),
            run_untagged: true,
            locked: false,
            paused: false,
            access_level: RunnerAccessLevel::NotProtected,
            maximum_timeout: None,
            created_at: DateTime::UNIX_EPOCH,
            contacted_at: None,
            version: None,
            platform: None,
            architecture: None,
            executor: None,
        }
    }

    #[test]
    fn gpus_are_read_with_their_holders_and_health() {
        let mut a = DetectedGpu::bare(Vendor::Nvidia, "0000:01:00.0".parse().expect("pci"));
        a.key = GpuKey::Uuid("GPU-a".into());
        a.product_name = Some("NVIDIA H100".into());
        a.memory_total_bytes = Some(80 << 30);
        a.mig_instances = vec![MigInstance::new(1, None, Vec::new())];
        let mut b = DetectedGpu::bare(Vendor::Amd, "0000:02:00.0".parse().expect("pci"));
        b.health = GpuHealth::WrongDriver("vfio-pci".into());
        let inv = HostInventory {
            schema_version: 1,
            detector_version: "t".into(),
            gpus: vec![a, b],
            warnings: vec!["w".into()],
        };
        let f = FleetRunner {
            runner: runner(),
            inventory: Some(RunnerInventory {
                runner_id: autogit_core::RunnerId::new(1),
                inventory: serde_json::to_string(&inv).expect("json"),
                architectures: vec!["amd64".into()],
                updated_at: DateTime::UNIX_EPOCH,
            }),
            allocations: vec![(JobId::new(7), vec!["GPU-a".into(), "GPU-gone".into()])],
        };
        let gpus = f.gpus();
        assert_eq!(gpus.len(), 3);
        assert_eq!((gpus[0].key.as_str(), gpus[0].held_by, gpus[0].ready), ("GPU-a", Some(JobId::new(7)), true));
        assert_eq!(gpus[0].mig, vec!["GI 1".to_string()]);
        assert_eq!((gpus[1].key.as_str(), gpus[1].held_by), ("pci:0000:02:00.0", None));
        assert_eq!(gpus[1].health, "wrong driver (vfio-pci)");
        assert_eq!((gpus[2].health.as_str(), gpus[2].held_by), ("no longer reported", Some(JobId::new(7))));
        assert_eq!(f.architectures(), vec!["amd64".to_string()]);
        assert_eq!(f.inventory_warnings(), vec!["w".to_string()]);
        let bare = FleetRunner { runner: runner(), inventory: None, allocations: Vec::new() };
        assert!(bare.gpus().is_empty() && bare.architectures().is_empty());
    }
}
