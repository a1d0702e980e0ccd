//! `/admin/gpus` (every runner's reported GPUs, who holds each one, totals per model) and
//! `/admin/pools` (the autoscaled pools as the autoscaler last saw them).

use super::runners::{JobLink, gpu_holders};
use super::{admin, ctx, memory};
use crate::state::AppState;
use crate::web::ui::val;
use crate::web::{Browser, Page};
use autogit_app::ci::FleetRunner;
use autogit_core::JobId;
use axum::extract::State;
use axum::http::StatusCode;
use minijinja::context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The job holding a GPU: linked when it is known as running, else by number.
#[derive(Serialize)]
pub(super) struct Holder {
    id: i64,
    name: Option<String>,
    project: Option<String>,
    href: Option<String>,
}

/// One GPU as the admin pages show it.
#[derive(Serialize)]
pub(super) struct GpuRow {
    runner_id: i64,
    runner_href: String,
    runner: String,
    key: String,
    vendor: String,
    model: String,
    memory: String,
    pci_address: Option<String>,
    health: String,
    ready: bool,
    mig: Vec<String>,
    held_by: Option<Holder>,
}

/// A runner's GPUs, each with its holder among `held` (the running jobs by id).
pub(super) fn gpu_rows(f: &FleetRunner, held: &HashMap<JobId, JobLink>) -> Vec<GpuRow> {
    f.gpus()
        .into_iter()
        .map(|g| {
            let vendor = g.vendor.unwrap_or("unknown").to_string();
            GpuRow {
                runner_id: f.runner.id.get(),
                runner_href: format!("/admin/runners/{}", f.runner.id),
                runner: f.runner.description.clone(),
                model: g.product_name.clone().unwrap_or_else(|| format!("{vendor} GPU")),
                vendor,
                memory: memory(g.memory_total_bytes),
                pci_address: g.pci_address,
                health: g.health,
                ready: g.ready,
                mig: g.mig,
                held_by: g.held_by.map(|id| {
                    let job = held.get(&id);
                    Holder {
                        id: id.get(),
                        name: job.map(|j| j.name.clone()),
                        project: job.map(|j| j.project.clone()),
                        href: job.map(|j| j.href.clone()),
                    }
                }),
                key: g.key,
            }
        })
        .collect()
}

/// GPUs of one model across the fleet.
#[derive(Serialize, Default)]
struct ModelTotals {
    model: String,
    memory: String,
    total: usize,
    free: usize,
    held: usize,
    unavailable: usize,
}

/// `GET /admin/gpus`.
pub(super) async fn gpus(State(s): State<AppState>, browser: Browser) -> Page {
    gpus_page(&s, &browser).await.unwrap_or_else(|p| p)
}

async fn gpus_page(s: &AppState, browser: &Browser) -> Result<Page, Page> {
    let who = admin(browser)?;
    let fleet = s.app.gpu_fleet(who).await.map_err(Page::error)?;
    let held = gpu_holders(s, who, &fleet).await?;
    let mut rows = Vec::new();
    let mut without = Vec::new();
    let mut totals: BTreeMap<(String, String), ModelTotals> = BTreeMap::new();
    for f in &fleet {
        let mine = gpu_rows(f, &held);
        if mine.is_empty() {
            without.push(context! { id => f.runner.id.get(), description => f.runner.description.clone() });
            continue;
        }
        for g in &mine {
            let t = totals.entry((g.model.clone(), g.memory.clone())).or_insert_with(|| ModelTotals {
                model: g.model.clone(),
                memory: g.memory.clone(),
                ..ModelTotals::default()
            });
            t.total += 1;
            match (&g.held_by, g.ready) {
                (Some(_), _) => t.held += 1,
                (None, true) => t.free += 1,
                (None, false) => t.unavailable += 1,
            }
        }
        rows.extend(mine);
    }
    let ctx = context! {
        ..ctx(browser, "GPUs", "gpus"),
        ..context! {
            gpus => val(&rows), totals => val(&totals.into_values().collect::<Vec<_>>()), without_gpus => without,
        }
    };
    Ok(Page::render(StatusCode::OK, "gpus.html", ctx))
}

/// `GET /admin/pools`.
pub(super) async fn pools(State(s): State<AppState>, browser: Browser) -> Page {
    let who = match admin(&browser) {
        Ok(w) => w,
        Err(p) => return p,
    };
    let pools = match s.app.pools(who) {
        Ok(p) => p,
        Err(e) => return Page::error(e),
    };
    let ctx = context! { ..ctx(&browser, "Runner pools", "pools"), ..context! { pools => val(&pools) } };
    Page::render(StatusCode::OK, "pools.html", ctx)
}
