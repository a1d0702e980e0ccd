//! PCI addresses and the `0x%04x` sysfs number format.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub const VENDOR_NVIDIA: u16 = 0x10de;
pub const VENDOR_AMD: u16 = 0x1002;
pub const VENDOR_INTEL: u16 = 0x8086;
/// PCI base class "display controller" (VGA 0x0300, XGA 0x0301, 3D 0x0302, other 0x0380).
pub const CLASS_DISPLAY: u32 = 0x03;

/// A PCI function address. Ordered like the bus, which is also NVML's device order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for PciAddress {
    /// Lower-case with a 4-digit domain, as sysfs and `/proc/driver/nvidia` name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

impl FromStr for PciAddress {
    type Err = String;

    /// Accepts `0000:1b:00.0` (sysfs) and `00000000:1B:00.0` (nvidia-smi, NVML).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a PCI address");
        let (domain, rest) = s.trim().split_once(':').ok_or_else(bad)?;
        let (bus, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (device, function) = rest.split_once('.').ok_or_else(bad)?;
        let hex = |x: &str, max_len: usize| {
            if x.is_empty() || x.len() > max_len { Err(bad()) } else { u32::from_str_radix(x, 16).map_err(|_| bad()) }
        };
        let device = hex(device, 2)?;
        let function = hex(function, 1)?;
        if device > 0x1f || function > 7 {
            return Err(bad());
        }
        Ok(PciAddress {
            domain: hex(domain, 8)?,
            bus: hex(bus, 2)? as u8,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl From<PciAddress> for String {
    fn from(a: PciAddress) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for PciAddress {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Parses a sysfs hex attribute (`"0x10de\n"`).
pub fn parse_hex(s: &str) -> Option<u32> {
    let t = s.trim();
    u32::from_str_radix(t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?, 16).ok()
}

/// `numa_node`: a node number, or `None` for `-1` (unknown, common in VMs) and garbage.
pub fn parse_numa(s: &str) -> Option<u16> {
    s.trim().parse::<i32>().ok().filter(|n| *n >= 0).and_then(|n| u16::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a: PciAddress = "0000:1b:00.0".parse().expect("sysfs form");
        let b: PciAddress = "00000000:1B:00.0".parse().expect("nvidia-smi form");
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "0000:1b:00.0");
        for bad in ["", "1b:00.0", "0000:1b:00", "0000:1b:20.0", "0000:1b:00.8", "zzzz:1b:00.0", "0000:100:00.0"] {
            assert!(bad.parse::<PciAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sysfs_numbers() {
        assert_eq!(parse_hex("0x10de\n"), Some(0x10de));
        assert_eq!(parse_hex("0x030200"), Some(0x030200));
        assert_eq!(parse_hex("10de"), None);
        assert_eq!(parse_hex("0xzz"), None);
        assert_eq!(parse_numa("1\n"), Some(1));
        assert_eq!(parse_numa("-1"), None);
        assert_eq!(parse_numa("x"), None);
    }
}
