//! The messages: why a request can never run on a runner, why not now, why on no runner at all.
//! They name the runner, the GPU and the attribute, as [`GpuRequest::matches`] words it.

use std::collections::BTreeSet;

use autogit_core::RunnerId;

use autogit_gpu::model::GpuHealth;
use autogit_gpu::request::Numa;

use super::GpuRequest;
use super::fit::{Cand, Shortfall, choose};
use super::pool::GpuPool;
use super::runner::Runner;

/// Per-GPU reasons shown before "and N more".
const SHOWN: usize = 3;

/// [`GpuRequest::describe`] plus what it leaves out: `2× NVIDIA ≥ 40GB on one NUMA node`.
pub(super) fn describe(req: &GpuRequest) -> String {
    let mut s = req.describe();
    if !req.arch.is_empty() {
        s.push_str(&format!(" arch {}", req.arch.join("|")));
    }
    if req.count > 1 && req.numa == Numa::Require {
        s.push_str(" on one NUMA node");
    }
    s
}

fn health(h: &GpuHealth) -> String {
    match h {
        GpuHealth::Ready => "ready".into(),
        GpuHealth::NoDriver => "not ready: no driver bound".into(),
        GpuHealth::WrongDriver(d) => format!("not ready: bound to {d}"),
        GpuHealth::Excluded => "not ready: excluded by the driver".into(),
        GpuHealth::MigPending => "not ready: MIG mode change pending".into(),
    }
}

/// One runner judged as if all its GPUs were free.
struct Idle<'a> {
    total: usize,
    cands: Vec<Cand<'a>>,
    /// `<key>: <why not>` for every GPU that does not qualify on its own.
    reasons: Vec<String>,
    shortfall: Option<Shortfall>,
}

fn idle<'a>(r: &'a Runner, req: &GpuRequest) -> Idle<'a> {
    let (mut cands, mut reasons) = (Vec::new(), Vec::new());
    for (key, e) in &r.gpus {
        if !e.gpu.health.is_ready() {
            reasons.push(format!("{key}: {}", health(&e.gpu.health)));
        } else if let Err(why) = req.matches(&e.gpu) {
            reasons.push(format!("{key}: {why}"));
        } else {
            cands.push(Cand { key, gpu: &e.gpu });
        }
    }
    let shortfall = choose(cands.clone(), req).err();
    Idle { total: r.gpus.len(), cands, reasons, shortfall }
}

fn list(items: &[String]) -> String {
    let mut s = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > SHOWN {
        s.push_str(&format!("; and {} more", items.len() - SHOWN));
    }
    s
}

fn grouping(s: Shortfall, n: u32) -> String {
    match s {
        Shortfall::Model => format!("{n} of one model"),
        _ => format!("{n} on one known NUMA node"),
    }
}

/// Reads after "where": `0 of its 2 GPUs qualify (pci:0000:01:00.0: memory size unknown)`.
fn why_never(i: &Idle<'_>, req: &GpuRequest) -> String {
    let m = i.cands.len();
    match i.shortfall {
        _ if i.total == 0 => "no GPUs are reported".into(),
        Some(Shortfall::Count) | None if i.reasons.is_empty() => format!("{m} of its {} GPUs qualify", i.total),
        Some(Shortfall::Count) | None => format!("{m} of its {} GPUs qualify ({})", i.total, list(&i.reasons)),
        Some(s) => format!("its {m} qualifying GPUs include no {}", grouping(s, req.count)),
    }
}

/// Why `runner` can never satisfy `req`, even idle; `None` when it can.
pub(super) fn never(runner: RunnerId, r: &Runner, req: &GpuRequest) -> Option<String> {
    let i = idle(r, req);
    i.shortfall.map(|_| format!("runner {runner} can never run {}: {}", describe(req), why_never(&i, req)))
}

/// Why `runner`, which could satisfy `req` when idle, cannot now.
pub(super) fn busy(pool: &GpuPool, runner: RunnerId, r: &Runner, req: &GpuRequest) -> String {
    let i = idle(r, req);
    let (mut free, mut jobs) = (Vec::new(), BTreeSet::new());
    for c in &i.cands {
        match pool.holders.get(&r.gpus[c.key].unit) {
            Some(job) => {
                jobs.insert(job.to_string());
            }
            None => free.push(*c),
        }
    }
    let jobs: Vec<String> = jobs.into_iter().collect();
    let (desc, n, f) = (describe(req), req.count, free.len());
    let held = format!("the others are held by job(s) {}", jobs.join(", "));
    match choose(free, req) {
        Err(Shortfall::Count) => {
            format!("runner {runner} has {f} free of the {n} GPUs {desc} needs ({} qualify; {held})", i.cands.len())
        }
        Err(s) => format!("runner {runner} has {f} free GPUs for {desc}, but not {} ({held})", grouping(s, n)),
        Ok(_) => format!("runner {runner} can run {desc} now"),
    }
}

/// `None` when some runner could satisfy `req` when idle; else a message naming the closest
/// runner (the most GPUs that qualify on their own) and why it falls short. Matches every GPU of
/// every runner: for the rare request that fits nowhere, not for each placement.
pub(super) fn unsatisfiable(pool: &GpuPool, req: &GpuRequest) -> Option<String> {
    let desc = describe(req);
    if let Err(e) = req.validate() {
        return Some(format!("invalid GPU request {desc}: {e}"));
    }
    let mut closest: Option<(RunnerId, Idle<'_>)> = None;
    for (id, r) in &pool.runners {
        let i = idle(r, req);
        // No shortfall: this runner fits when idle, so the request is satisfiable.
        i.shortfall?;
        if closest.as_ref().is_none_or(|(_, c)| i.cands.len() > c.cands.len()) {
            closest = Some((*id, i));
        }
    }
    Some(match closest {
        None => format!("no runner has {desc}: no runner has reported GPUs"),
        Some((id, i)) => format!("no runner has {desc}; closest: runner {id}, where {}", why_never(&i, req)),
    })
}
