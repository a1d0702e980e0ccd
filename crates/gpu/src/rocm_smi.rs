//! `rocm-smi --json` as a fallback for AMD values sysfs lacks (research: gpu.md §2.3). Pure: the
//! agent runs the command ([`ARGS`]) and hands the text to [`enrich_from_rocm_smi`].
//!
//! The output is one JSON object: a `"card<i>"` key per GPU, where `i` is rocm-smi's own device
//! index (not the DRM card number, so it is never used to join), plus an optional `"system"`
//! key. Values are strings, e.g.
//! `{"card0": {"Card Series": "AMD Instinct MI210", "VRAM Total Memory (B)": "68702699520",
//! "Unique ID": "0x1a2b3c4d5e6f7081", "PCI Bus": "0000:43:00.0"}}`. Key spelling changed over
//! releases (`Card series` before `Card Series`), so keys match case-insensitively.
//!
//! Precedence: sysfs/KFD over rocm-smi. rocm-smi reads the same sysfs files through its library,
//! so it only fills values the probe did not find; where both know a value and disagree, the
//! sysfs one stays and a warning says so.

use crate::model::*;
use crate::pci::PciAddress;
use serde_json::{Map, Value};

/// The arguments the agent runs `rocm-smi` with.
pub const ARGS: &[&str] = &["--showproductname", "--showmeminfo", "vram", "--showuniqueid", "--showbus", "--json"];

/// One `card<i>` entry. Everything is optional: a missing key or `N/A` is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RocmSmiCard {
    /// The JSON key, `card0`; for messages only.
    pub card: String,
    pub bus: Option<PciAddress>,
    /// In sysfs's `unique_id` form: 16 lower-case hex digits.
    pub unique_id: Option<String>,
    pub product_name: Option<String>,
    pub memory_total_bytes: Option<u64>,
}

/// Whether asking rocm-smi can add anything: an amdgpu-bound GPU lacks memory size or product
/// name (consumer cards have no FRU `product_name`; some kernels lack `mem_info_vram_total`).
pub fn wanted(inv: &HostInventory) -> bool {
    inv.gpus.iter().any(|g| {
        g.vendor == Vendor::Amd
            && g.kernel_driver.as_deref() == Some("amdgpu")
            && (g.memory_total_bytes.is_none() || g.product_name.is_none())
    })
}

/// Parses the output; what cannot be read becomes a warning, never a value.
pub fn parse(text: &str) -> (Vec<RocmSmiCard>, Vec<String>) {
    let mut warnings = Vec::new();
    let Some(root) = json_object(text) else {
        let head: String = text.trim().chars().take(80).collect();
        return (Vec::new(), vec![format!("rocm-smi: output is not a JSON object: {head:?}")]);
    };
    let mut cards = Vec::new();
    for (key, value) in &root {
        if !key.to_ascii_lowercase().starts_with("card") {
            continue; // "system", and whatever later releases add
        }
        let Some(fields) = value.as_object() else {
            warnings.push(format!("rocm-smi: {key} is not an object"));
            continue;
        };
        let mut card = RocmSmiCard { card: key.clone(), ..Default::default() };
        let mut bad = |what: &str, raw: &str| warnings.push(format!("rocm-smi: {key}: unreadable {what} {raw:?}"));
        if let Some(raw) = field(fields, &["PCI Bus"]) {
            card.bus = raw.parse().ok();
            if card.bus.is_none() {
                bad("PCI Bus", &raw);
            }
        }
        if let Some(raw) = field(fields, &["Unique ID"]) {
            let hex = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")).unwrap_or(&raw);
            match u64::from_str_radix(hex, 16) {
                Ok(0) => {} // unsupported ASICs answer 0
                Ok(v) => card.unique_id = Some(format!("{v:016x}")),
                Err(_) => bad("Unique ID", &raw),
            }
        }
        card.product_name = field(fields, &["Card Series"]);
        if let Some(raw) = field(fields, &["VRAM Total Memory (B)"]) {
            match raw.parse::<u64>() {
                Ok(0) => {} // unknown, never 0
                Ok(v) => card.memory_total_bytes = Some(v),
                Err(_) => bad("VRAM Total Memory (B)", &raw),
            }
        }
        cards.push(card);
    }
    (cards, warnings)
}

/// The object in `text`; tolerates log lines around it.
fn json_object(text: &str) -> Option<Map<String, Value>> {
    let parse = |t: &str| serde_json::from_str::<Value>(t).ok().and_then(|v| v.as_object().cloned());
    parse(text.trim()).or_else(|| {
        let (start, end) = (text.find('{')?, text.rfind('}')?);
        (start < end).then(|| parse(&text[start..=end])).flatten()
    })
}

/// A value by key, case-insensitively; strings (numbers too) trimmed; `N/A` and empty are `None`.
fn field(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    let value =
        names.iter().find_map(|n| fields.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(n)).map(|(_, v)| v))?;
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let unknown = text.is_empty() || text.eq_ignore_ascii_case("n/a") || text.eq_ignore_ascii_case("unknown");
    (!unknown).then_some(text)
}

/// Fills what sysfs lacked on the AMD GPUs of `inv` from rocm-smi's output. Each card joins the
/// AMD GPU at its PCI bus, else the one with its unique id; a card that joins none is ignored with
/// a warning.
pub fn enrich_from_rocm_smi(inv: &mut HostInventory, text: &str) {
    let (cards, warnings) = parse(text);
    inv.warnings.extend(warnings);
    let mut joined = vec![false; inv.gpus.len()];
    for c in &cards {
        let is_amd = |g: &DetectedGpu| g.vendor == Vendor::Amd;
        let by_bus = c.bus.and_then(|b| inv.gpus.iter().position(|g| is_amd(g) && g.pci.address == b));
        let by_uid = || {
            let u = c.unique_id.as_deref()?;
            inv.gpus.iter().position(|g| is_amd(g) && g.uuid.as_deref() == Some(u))
        };
        let Some(i) = by_bus.or_else(by_uid) else {
            inv.warnings.push(format!(
                "rocm-smi: {} (bus {}) matches no AMD GPU in PCI sysfs: ignored",
                c.card,
                c.bus.map(|b| b.to_string()).unwrap_or_else(|| "unknown".into())
            ));
            continue;
        };
        if std::mem::replace(&mut joined[i], true) {
            inv.warnings.push(format!("rocm-smi: {} names {} again: ignored", c.card, inv.gpus[i].pci.address));
            continue;
        }
        fill(&mut inv.gpus[i], c, &mut inv.warnings);
    }
}

fn fill(g: &mut DetectedGpu, c: &RocmSmiCard, warnings: &mut Vec<String>) {
    let address = g.pci.address;
    match (g.memory_total_bytes, c.memory_total_bytes) {
        (None, Some(bytes)) => {
            g.memory_total_bytes = Some(bytes);
            g.provenance.insert("memory_total_bytes".into(), Source::RocmSmi);
        }
        (Some(ours), Some(theirs)) if ours != theirs => {
            warnings.push(format!("{address}: rocm-smi says {theirs} bytes of VRAM, sysfs {ours}; keeping sysfs"))
        }
        _ => {}
    }
    if g.product_name.is_none()
        && let Some(name) = &c.product_name
    {
        g.product_name = Some(name.clone());
        g.provenance.insert("product_name".into(), Source::RocmSmi);
    }
    match (&g.uuid, &c.unique_id) {
        (None, Some(uid)) => {
            g.uuid = Some(uid.clone());
            g.key = GpuKey::Uuid(uid.clone());
            g.provenance.insert("uuid".into(), Source::RocmSmi);
        }
        (Some(ours), Some(theirs)) if ours != theirs => {
            warnings.push(format!("{address}: rocm-smi names unique id {theirs}, sysfs {ours}; keeping sysfs"))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_take_the_sysfs_form() {
        let (cards, w) = parse(
            r#"{"card0": {"Unique ID": "0xab", "PCI Bus": "0000:C3:00.0"}, "system": {"Driver version": "6.8.5"}}"#,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cards.len(), 1, "the system key is not a card");
        assert_eq!(cards[0].unique_id.as_deref(), Some("00000000000000ab"));
        assert_eq!(cards[0].bus.map(|b| b.to_string()).as_deref(), Some("0000:c3:00.0"));
    }

    #[test]
    fn keys_match_whatever_their_case_and_na_is_unknown() {
        let (cards, w) = parse(
            r#"{"card1": {"Card series": "Navi 31 [Radeon RX 7900 XT/7900 XTX]", "vram total memory (b)": 25753026560, "Unique ID": "N/A"}}"#,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cards[0].product_name.as_deref(), Some("Navi 31 [Radeon RX 7900 XT/7900 XTX]"));
        assert_eq!(cards[0].memory_total_bytes, Some(25_753_026_560), "a number is read too");
        assert_eq!(cards[0].unique_id, None);
        assert_eq!(cards[0].bus, None);
    }

    #[test]
    fn log_lines_around_the_object_are_tolerated() {
        let text = "WARNING: something\n{\"card0\": {\"PCI Bus\": \"0000:43:00.0\"}}\n";
        let (cards, w) = parse(text);
        assert!(w.is_empty());
        assert_eq!(cards.len(), 1);
        let (cards, w) = parse("[1, 2]");
        assert!(cards.is_empty());
        assert_eq!(w.len(), 1, "an array is not the documented object");
    }
}
