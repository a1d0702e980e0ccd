//! What a job asks for: GitLab-compatible tags (`tags: [gpu, nvidia]` = one exclusive NVIDIA
//! GPU) or the compact `GPU_REQUEST` form `nvidia:2,mem>=40GB,cc>=8.0,model=*H100*`
//! (research: gpu.md §6c), and whether one detected GPU satisfies it. Pure.
//!
//! Sizes are exact: GB = 10^9 bytes, GiB = 2^30 — an "80GB" H100 has 81559 MiB (79.65 GiB), so
//! `mem>=80GiB` does not match it. A constraint on a value the GPU does not know fails closed,
//! and says which value was unknown.
//!
//! Besides the clauses of gpu.md §6c the compact form accepts `same_model=true|false`, so that
//! every request has a compact spelling: [`GpuRequest::to_compact`] writes the canonical one
//! (`nvidia:2,mem>=40GB,cc>=8.0,arch=…,model=…,numa=…,same_model=false`, defaults left out
//! except the vendor and count), and [`GpuRequest::parse`] reads it back to an equal request.

use crate::model::{Arch, DetectedGpu, Vendor};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Ge,
    Gt,
    Eq,
    Le,
    Lt,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, have: T, want: T) -> bool {
        match self {
            Cmp::Ge => have >= want,
            Cmp::Gt => have > want,
            Cmp::Eq => have == want,
            Cmp::Le => have <= want,
            Cmp::Lt => have < want,
        }
    }

    /// The compact form's spelling (`>=`, `>`, `=`, `<=`, `<`).
    pub fn ascii(self) -> &'static str {
        match self {
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
            Cmp::Eq => "=",
            Cmp::Le => "<=",
            Cmp::Lt => "<",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Ge => "≥",
            Cmp::Gt => ">",
            Cmp::Eq => "=",
            Cmp::Le => "≤",
            Cmp::Lt => "<",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numa {
    #[default]
    Prefer,
    Require,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequest {
    pub count: u32,
    /// `None` = any vendor.
    pub vendor: Option<Vendor>,
    /// Per-GPU total memory, in bytes, with the size as written for messages.
    pub memory: Option<(Cmp, u64, String)>,
    pub compute_capability: Option<(Cmp, (u8, u8))>,
    pub arch: Vec<String>,
    /// Case-insensitive glob over the product name.
    pub model: Option<String>,
    pub same_model: bool,
    pub numa: Numa,
}

impl Default for GpuRequest {
    fn default() -> Self {
        GpuRequest {
            count: 1,
            vendor: None,
            memory: None,
            compute_capability: None,
            arch: Vec::new(),
            model: None,
            same_model: true,
            numa: Numa::Prefer,
        }
    }
}

/// Why a request is malformed; the message names the part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub String);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError(msg.into()))
}

fn vendor(s: &str) -> Result<Option<Vendor>, RequestError> {
    match s.to_ascii_lowercase().as_str() {
        "any" => Ok(None),
        "nvidia" => Ok(Some(Vendor::Nvidia)),
        "amd" => Ok(Some(Vendor::Amd)),
        "intel" => Ok(Some(Vendor::Intel)),
        other => err(format!("unknown GPU vendor {other:?} (expected nvidia, amd, intel or any)")),
    }
}

/// A leading comparison (`>=40GB` → `(Ge, "40GB")`, the rest trimmed); `None` without one.
pub fn split_cmp(s: &str) -> Option<(Cmp, &str)> {
    for (sym, c) in [(">=", Cmp::Ge), ("<=", Cmp::Le), (">", Cmp::Gt), ("<", Cmp::Lt), ("=", Cmp::Eq)] {
        if let Some(rest) = s.strip_prefix(sym) {
            return Some((c, rest.trim()));
        }
    }
    None
}

fn cmp(s: &str) -> Result<(Cmp, &str), RequestError> {
    split_cmp(s).ok_or_else(|| RequestError(format!("{s:?} needs a comparison (>=, >, =, <=, <)")))
}

/// `40GB`, `79.5GiB`, `81559MiB`, `512MB`. Bare numbers are refused: the unit is the point.
pub fn parse_size(s: &str) -> Result<u64, RequestError> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.trim().parse().map_err(|_| RequestError(format!("{s:?} is not a size like 40GB or 80GiB")))?;
    let mult = match unit {
        "GB" => 1e9,
        "MB" => 1e6,
        "GiB" => (1u64 << 30) as f64,
        "MiB" => (1u64 << 20) as f64,
        "" => return err(format!("{s:?} has no unit (GB = 10^9 bytes, GiB = 2^30)")),
        other => return err(format!("unknown size unit {other:?} (use GB, GiB, MB or MiB)")),
    };
    if !(n.is_finite() && n > 0.0) {
        return err(format!("{s:?} is not a positive size"));
    }
    Ok((n * mult).round() as u64)
}

/// A compute capability such as `8.0` or `9.0`.
pub fn parse_version(s: &str) -> Result<(u8, u8), RequestError> {
    version(s)
}

fn version(s: &str) -> Result<(u8, u8), RequestError> {
    let (a, b) = s.split_once('.').ok_or_else(|| RequestError(format!("{s:?} is not a version like 8.0")))?;
    Ok((
        a.parse().map_err(|_| RequestError(format!("{s:?} is not a version")))?,
        b.parse().map_err(|_| RequestError(format!("{s:?} is not a version")))?,
    ))
}

impl GpuRequest {
    /// GitLab-compatible form: `gpu` in the tags asks for one exclusive GPU, of the vendor named
    /// by a vendor tag if there is one.
    pub fn from_tags(tags: &[String]) -> Option<GpuRequest> {
        if !tags.iter().any(|t| t == "gpu") {
            return None;
        }
        let vendor = tags.iter().find_map(|t| vendor(t).ok().flatten());
        Some(GpuRequest { vendor, ..GpuRequest::default() })
    }

    /// Parses the compact `GPU_REQUEST` form.
    pub fn parse(s: &str) -> Result<GpuRequest, RequestError> {
        let mut r = GpuRequest::default();
        let mut parts = s.split(',').map(str::trim);
        let head = parts.next().unwrap_or("");
        if !head.is_empty() {
            let (v, count) = head.split_once(':').map_or((head, None), |(v, c)| (v, Some(c)));
            r.vendor = vendor(v)?;
            if let Some(c) = count {
                r.count = c.parse().map_err(|_| RequestError(format!("GPU count {c:?} is not a number")))?;
            }
        }
        for clause in parts.filter(|c| !c.is_empty()) {
            if let Some(rest) = clause.strip_prefix("mem") {
                let (c, size) = cmp(rest)?;
                r.memory = Some((c, parse_size(size)?, size.to_string()));
            } else if let Some(rest) = clause.strip_prefix("cc") {
                let (c, v) = cmp(rest)?;
                r.compute_capability = Some((c, version(v)?));
            } else if let Some(rest) = clause.strip_prefix("arch=") {
                r.arch = rest.split('|').map(|a| a.trim().to_ascii_lowercase()).filter(|a| !a.is_empty()).collect();
            } else if let Some(rest) = clause.strip_prefix("model=") {
                r.model = Some(rest.to_string());
            } else if let Some(rest) = clause.strip_prefix("count=") {
                r.count = rest.parse().map_err(|_| RequestError(format!("GPU count {rest:?} is not a number")))?;
            } else if let Some(rest) = clause.strip_prefix("same_model=") {
                r.same_model = match rest {
                    "true" => true,
                    "false" => false,
                    other => return err(format!("same_model={other:?}: expected true or false")),
                };
            } else if let Some(rest) = clause.strip_prefix("numa=") {
                r.numa = match rest {
                    "prefer" => Numa::Prefer,
                    "require" => Numa::Require,
                    "ignore" => Numa::Ignore,
                    other => return err(format!("numa={other:?}: expected prefer, require or ignore")),
                };
            } else {
                return err(format!("unknown GPU requirement {clause:?}"));
            }
        }
        r.validate()?;
        Ok(r)
    }

    /// The canonical compact form: `<vendor|any>:<count>`, then each constraint that is set, in
    /// the order `mem`, `cc`, `arch`, `model`, `numa` (unless `prefer`), `same_model` (unless
    /// true). [`GpuRequest::parse`] reads it back to an equal request for every request that
    /// `parse` can produce (a model glob with a `,` or surrounding spaces has no compact spelling).
    pub fn to_compact(&self) -> String {
        let vendor = match self.vendor {
            None => "any",
            Some(Vendor::Nvidia) => "nvidia",
            Some(Vendor::Amd) => "amd",
            Some(Vendor::Intel) => "intel",
        };
        let mut s = format!("{vendor}:{}", self.count);
        if let Some((c, _, text)) = &self.memory {
            s.push_str(&format!(",mem{}{text}", c.ascii()));
        }
        if let Some((c, (a, b))) = self.compute_capability {
            s.push_str(&format!(",cc{}{a}.{b}", c.ascii()));
        }
        if !self.arch.is_empty() {
            s.push_str(&format!(",arch={}", self.arch.join("|")));
        }
        if let Some(m) = &self.model {
            s.push_str(&format!(",model={m}"));
        }
        match self.numa {
            Numa::Prefer => {}
            Numa::Require => s.push_str(",numa=require"),
            Numa::Ignore => s.push_str(",numa=ignore"),
        }
        if !self.same_model {
            s.push_str(",same_model=false");
        }
        s
    }

    /// Contradictions that can never match.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.count == 0 {
            return err("a GPU request needs at least 1 GPU");
        }
        if self.compute_capability.is_some() && matches!(self.vendor, Some(v) if v != Vendor::Nvidia) {
            return err("compute capability (cc) applies to NVIDIA GPUs only");
        }
        Ok(())
    }

    /// Whether one GPU satisfies the per-GPU constraints (count and placement are the
    /// scheduler's). Fails closed on unknown values, naming them.
    pub fn matches(&self, gpu: &DetectedGpu) -> Result<(), String> {
        if let Some(v) = self.vendor
            && v != gpu.vendor
        {
            return Err(format!("vendor is {:?}", gpu.vendor).to_lowercase());
        }
        if let Some((c, bytes, text)) = &self.memory {
            match gpu.memory_total_bytes {
                None => return Err("memory size unknown".into()),
                Some(have) if !c.holds(have, *bytes) => {
                    return Err(format!("memory {have} bytes is not {} {text}", c.symbol()));
                }
                Some(_) => {}
            }
        }
        if let Some((c, want)) = self.compute_capability {
            match &gpu.arch {
                Some(Arch::Cuda { major, minor }) if c.holds((*major, *minor), want) => {}
                Some(Arch::Cuda { major, minor }) => {
                    return Err(format!(
                        "compute capability {major}.{minor} is not {} {}.{}",
                        c.symbol(),
                        want.0,
                        want.1
                    ));
                }
                _ => return Err("compute capability unknown".into()),
            }
        }
        if !self.arch.is_empty() {
            let have = match &gpu.arch {
                Some(Arch::AmdGfx { target, .. }) => target.clone(),
                Some(Arch::Cuda { major, minor }) => format!("sm_{major}{minor}"),
                Some(Arch::Intel) => "intel".into(),
                None => return Err("architecture unknown".into()),
            };
            if !self.arch.contains(&have) {
                return Err(format!("architecture {have} is not one of {}", self.arch.join("|")));
            }
        }
        if let Some(pattern) = &self.model {
            match &gpu.product_name {
                None => return Err("model unknown".into()),
                Some(name) if !glob(&pattern.to_lowercase(), &name.to_lowercase()) => {
                    return Err(format!("model {name:?} does not match {pattern:?}"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A short description for "no runner has …" messages: `2× NVIDIA ≥ 40GB`.
    pub fn describe(&self) -> String {
        let vendor = match self.vendor {
            None => "GPU",
            Some(Vendor::Nvidia) => "NVIDIA",
            Some(Vendor::Amd) => "AMD",
            Some(Vendor::Intel) => "Intel",
        };
        let mut s = format!("{}× {vendor}", self.count);
        if let Some((c, _, text)) = &self.memory {
            s.push_str(&format!(" {} {text}", c.symbol()));
        }
        if let Some((c, (a, b))) = self.compute_capability {
            s.push_str(&format!(" cc {} {a}.{b}", c.symbol()));
        }
        if let Some(m) = &self.model {
            s.push_str(&format!(" model {m}"));
        }
        s
    }
}

/// `*` and `?` glob; everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
