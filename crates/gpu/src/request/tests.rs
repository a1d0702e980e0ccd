//! Requirement parsing and matching against detected GPUs.

use super::*;
use crate::model::*;

fn gpu(vendor: Vendor, mem: Option<u64>, arch: Option<Arch>, name: Option<&str>) -> DetectedGpu {
    DetectedGpu {
        memory_total_bytes: mem,
        arch,
        product_name: name.map(str::to_string),
        ..test_gpu(vendor, "0000:1b:00.0")
    }
}

const H100_BYTES: u64 = 81559 * 1_048_576;

#[test]
fn compact_form() {
    let r = GpuRequest::parse("nvidia:2,mem>=40GB,cc>=8.0,model=*H100*").expect("parses");
    assert_eq!(r.count, 2);
    assert_eq!(r.vendor, Some(Vendor::Nvidia));
    assert_eq!(r.memory.as_ref().map(|m| m.1), Some(40_000_000_000));
    assert_eq!(r.compute_capability, Some((Cmp::Ge, (8, 0))));
    assert_eq!(r.describe(), "2× NVIDIA ≥ 40GB cc ≥ 8.0 model *H100*");
    assert_eq!(GpuRequest::parse("any").expect("any").vendor, None);
    assert_eq!(GpuRequest::parse("amd,arch=gfx90a|gfx942,numa=require").expect("amd").arch, ["gfx90a", "gfx942"]);
}

#[test]
fn malformed_requests_say_what_is_wrong() {
    for (bad, needle) in [
        ("nvidia:0", "at least 1"),
        ("amd,cc>=8.0", "NVIDIA GPUs only"),
        ("nvidia,mem>=40", "no unit"),
        ("nvidia,mem>=40TB", "unknown size unit"),
        ("nvidia,mem40GB", "comparison"),
        ("quantum", "unknown GPU vendor"),
        ("nvidia,colour=green", "unknown GPU requirement"),
        ("nvidia:two", "not a number"),
        ("nvidia,numa=maybe", "prefer, require or ignore"),
    ] {
        let e = GpuRequest::parse(bad).expect_err(bad);
        assert!(e.0.contains(needle), "{bad}: {e}");
    }
}

#[test]
fn gb_and_gib_are_not_the_same() {
    let h100 =
        gpu(Vendor::Nvidia, Some(H100_BYTES), Some(Arch::Cuda { major: 9, minor: 0 }), Some("NVIDIA H100 80GB HBM3"));
    assert!(GpuRequest::parse("nvidia,mem>=80GB").expect("p").matches(&h100).is_ok(), "85.5e9 bytes ≥ 80e9");
    assert!(GpuRequest::parse("nvidia,mem>=80GiB").expect("p").matches(&h100).is_err(), "79.65 GiB < 80 GiB");
    assert!(GpuRequest::parse("nvidia,mem>=79GiB").expect("p").matches(&h100).is_ok());
}

#[test]
fn matching_fails_closed_and_names_the_unknown() {
    let no_mem = gpu(Vendor::Nvidia, None, None, Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(GpuRequest::parse("nvidia,mem>=40GB").expect("p").matches(&no_mem), Err("memory size unknown".into()));
    assert_eq!(
        GpuRequest::parse("nvidia,cc>=8.0").expect("p").matches(&no_mem),
        Err("compute capability unknown".into())
    );
    let mi = gpu(
        Vendor::Amd,
        Some(68_702_699_520),
        Some(Arch::AmdGfx { target: "gfx90a".into(), version: 90010 }),
        Some("Instinct MI210"),
    );
    assert!(GpuRequest::parse("nvidia").expect("p").matches(&mi).is_err());
    assert!(GpuRequest::parse("amd,arch=gfx90a,model=instinct*").expect("p").matches(&mi).is_ok());
    assert!(GpuRequest::parse("amd,arch=gfx942").expect("p").matches(&mi).is_err());
    assert!(GpuRequest::parse("any,model=*h100*").expect("p").matches(&mi).is_err());
}

#[test]
fn tags() {
    let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(GpuRequest::from_tags(&t(&["docker"])), None);
    let r = GpuRequest::from_tags(&t(&["gpu", "nvidia", "linux"])).expect("gpu tag");
    assert_eq!((r.count, r.vendor), (1, Some(Vendor::Nvidia)));
    assert_eq!(GpuRequest::from_tags(&t(&["gpu"])).expect("gpu").vendor, None);
}

#[test]
fn globs() {
    assert!(glob("*h100*", "nvidia h100 80gb hbm3"));
    assert!(glob("a?c", "abc"));
    assert!(!glob("a?c", "abbc"));
    assert!(glob("*", ""));
    assert!(!glob("x*", "abc"));
}
