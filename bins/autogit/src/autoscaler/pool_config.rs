//! A `[[ci.pools]]` entry in the words of the parts that use it: the matcher's [`PoolSpec`],
//! the pure decider's [`PoolPolicy`], the runner registration arguments of its instances and
//! the JSON a plugin provider receives.

use anyhow::{Context, Result};
use autogit_app::ci::pool_demand::{GpuProfile, PoolSpec};
use autogit_config::{GpuVendor, PoolConfig};
use autogit_scheduler::autoscale::PoolPolicy;

/// What matching needs of a pool's configuration.
pub(super) fn pool_spec(c: &PoolConfig) -> PoolSpec {
    PoolSpec {
        tags: c.tags.clone(),
        run_untagged: c.run_untagged,
        architecture: c.effective_architecture(),
        gpu: c.gpu.as_ref().map(|g| GpuProfile {
            count: g.count,
            vendor: match g.vendor {
                GpuVendor::Nvidia => autogit_gpu::Vendor::Nvidia,
                GpuVendor::Amd => autogit_gpu::Vendor::Amd,
                GpuVendor::Intel => autogit_gpu::Vendor::Intel,
            },
            model: (!g.model.is_empty()).then(|| g.model.clone()),
            memory_bytes: (g.memory_mib > 0).then(|| g.memory_mib.saturating_mul(1 << 20)),
            // Checked when the configuration was loaded.
            compute_capability: g.compute_capability_parts().ok(),
        }),
        features: crate::runner::runner_info("shell")
            .features
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| f)
            .collect(),
    }
}

/// `register_args` plus `--arch` for a pool with an architecture of its own.
pub(super) fn register_args(c: &PoolConfig) -> Vec<String> {
    let mut args = c.register_args.clone();
    if !c.architecture.is_empty() {
        args.extend(["--arch".to_string(), c.architecture.clone()]);
    }
    args
}

pub(super) fn policy(c: &PoolConfig, can_suspend: bool) -> PoolPolicy {
    PoolPolicy {
        name: c.name.clone(),
        min_idle: c.min_idle,
        max_instances: c.max_instances,
        capacity_per_instance: c.capacity_per_instance.max(1),
        max_use_count: c.max_use_count,
        idle_time_ms: (c.idle_time_seconds as i64).saturating_mul(1000),
        scale_factor: c.scale_factor,
        scale_factor_limit: c.scale_factor_limit,
        windows: c
            .windows
            .iter()
            .filter_map(|w| {
                // Checked when the configuration was loaded.
                let (from_minute, to_minute) = w.minutes().ok()?;
                Some(autogit_scheduler::autoscale::PolicyWindow {
                    days: w.days.clone(),
                    from_minute,
                    to_minute,
                    min_idle: w.min_idle,
                    idle_time_ms: w.idle_time_seconds.map(|t| (t as i64).saturating_mul(1000)),
                })
            })
            .collect(),
        ready_deadline_ms: (c.ready_timeout_seconds as i64).saturating_mul(1000),
        can_suspend,
    }
}

/// A pool's `plugin_config` table as the JSON its plugin gets. TOML dates and times, which serde
/// sees as `{"$__toml_private_datetime": "…"}`, become plain strings.
pub(super) fn plugin_config_json(cfg: &PoolConfig) -> Result<serde_json::Value> {
    fn dates_as_strings(v: &mut serde_json::Value) {
        let date = v.as_object().filter(|m| m.len() == 1).and_then(|m| m.get("$__toml_private_datetime"));
        if let Some(serde_json::Value::String(d)) = date {
            *v = serde_json::Value::String(d.clone());
            return;
        }
        match v {
            serde_json::Value::Object(m) => m.values_mut().for_each(dates_as_strings),
            serde_json::Value::Array(a) => a.iter_mut().for_each(dates_as_strings),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(&cfg.plugin_config)
        .with_context(|| format!("pool {}: plugin_config as JSON", cfg.name))?;
    dates_as_strings(&mut json);
    Ok(json)
}

#[cfg(test)]
mod tests {
    #[test]
    fn plugin_config_becomes_json() {
        let cfg = autogit_config::PoolConfig {
            plugin_config: toml::from_str("a = 1\nb = [\"x\", 1979-05-27T07:32:00Z]\n[c]\nd = true\n")
                .unwrap_or_default(),
            ..Default::default()
        };
        let json = super::plugin_config_json(&cfg).ok();
        assert_eq!(json, Some(serde_json::json!({"a": 1, "b": ["x", "1979-05-27T07:32:00Z"], "c": {"d": true}})));
    }
}
