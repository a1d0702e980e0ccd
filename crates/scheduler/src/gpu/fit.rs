//! Best fit among one runner's qualifying GPUs: which `count` of them a job gets.

use autogit_gpu::model::{DetectedGpu, Vendor};
use autogit_gpu::request::{GpuRequest, Numa};

/// A GPU that qualifies for the request on its own (ready, matching; free when placing now).
#[derive(Debug, Clone, Copy)]
pub(super) struct Cand<'a> {
    pub key: &'a str,
    pub gpu: &'a DetectedGpu,
}

/// Why no set of `count` GPUs could be formed from the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shortfall {
    /// Fewer candidates than `count`.
    Count,
    /// Enough candidates, but not `count` of one model (`same_model`).
    Model,
    /// Enough of one model, but not `count` on one known NUMA node (`numa=require`).
    Numa,
}

/// Unknown memory sorts last: a GPU known to be small is surely the better fit.
fn memory(g: &DetectedGpu) -> u64 {
    g.memory_total_bytes.unwrap_or(u64::MAX)
}

/// What `same_model` compares: vendor, PCI device and product name.
fn model(g: &DetectedGpu) -> (Vendor, u16, u16, Option<&str>) {
    (g.vendor, g.pci.vendor_id, g.pci.device_id, g.product_name.as_deref())
}

/// How good a set is; lower is better: one NUMA node first, then least memory, then keys.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score<'a> {
    spread: bool,
    memory: u128,
    keys: Vec<&'a str>,
}

fn score<'a>(set: &[Cand<'a>], numa: Numa) -> Score<'a> {
    let spread = numa != Numa::Ignore && set.iter().any(|c| c.gpu.numa_node != set[0].gpu.numa_node);
    let mut keys: Vec<&str> = set.iter().map(|c| c.key).collect();
    keys.sort_unstable();
    Score { spread, memory: set.iter().map(|c| u128::from(memory(c.gpu))).sum(), keys }
}

/// The best `req.count` of `cands` under `same_model` and `numa`, by key.
pub(super) fn choose<'a>(mut cands: Vec<Cand<'a>>, req: &GpuRequest) -> Result<Vec<&'a str>, Shortfall> {
    let n = req.count as usize;
    if n == 0 || cands.len() < n {
        return Err(Shortfall::Count);
    }
    // One GPU is always "of one model" and "on one node".
    let numa = if n == 1 { Numa::Ignore } else { req.numa };
    cands.sort_by(|a, b| (memory(a.gpu), a.key).cmp(&(memory(b.gpu), b.key)));
    let mut groups: Vec<Vec<Cand<'a>>> = Vec::new();
    if req.same_model && n > 1 {
        for c in &cands {
            match groups.iter_mut().find(|g| model(g[0].gpu) == model(c.gpu)) {
                Some(g) => g.push(*c),
                None => groups.push(vec![*c]),
            }
        }
        groups.retain(|g| g.len() >= n);
        if groups.is_empty() {
            return Err(Shortfall::Model);
        }
    } else {
        groups.push(cands);
    }
    let mut best: Option<Score<'a>> = None;
    let mut consider = |set: &[Cand<'a>]| {
        let s = score(set, numa);
        if best.as_ref().is_none_or(|b| s < *b) {
            best = Some(s);
        }
    };
    for g in &groups {
        // Each group is sorted smallest first, so its first n are its best n.
        if numa == Numa::Prefer || numa == Numa::Ignore {
            consider(&g[..n]);
        }
        if numa == Numa::Ignore {
            continue;
        }
        let mut nodes: Vec<u16> = g.iter().filter_map(|c| c.gpu.numa_node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut per_node: Vec<Option<u16>> = nodes.into_iter().map(Some).collect();
        if numa == Numa::Prefer {
            // GPUs with unknown nodes count as one group: nothing says they are apart.
            per_node.push(None);
        }
        for node in per_node {
            let on_node: Vec<Cand<'a>> = g.iter().filter(|c| c.gpu.numa_node == node).copied().collect();
            if on_node.len() >= n {
                consider(&on_node[..n]);
            }
        }
    }
    best.map(|s| s.keys).ok_or(Shortfall::Numa)
}
