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

#[test]
fn canonical_compact_form() {
    for (input, canonical) in [
        ("any", "any:1"),
        ("nvidia", "nvidia:1"),
        ("NVIDIA:2, mem>= 40GB ,cc>=8.0,model=*H100*", "nvidia:2,mem>=40GB,cc>=8.0,model=*H100*"),
        ("amd,count=4,arch=GFX90A|gfx942,numa=require", "amd:4,arch=gfx90a|gfx942,numa=require"),
        ("intel,mem<24GiB,numa=ignore,same_model=false", "intel:1,mem<24GiB,numa=ignore,same_model=false"),
        (",mem=81559MiB", "any:1,mem=81559MiB"),
        ("nvidia,same_model=true,numa=prefer", "nvidia:1"),
    ] {
        let r = GpuRequest::parse(input).expect(input);
        assert_eq!(r.to_compact(), canonical, "{input}");
        assert_eq!(GpuRequest::parse(&r.to_compact()).expect(canonical), r, "{input}");
    }
    assert_eq!(GpuRequest::default().to_compact(), "any:1");
    assert!(GpuRequest::parse("nvidia,same_model=maybe").expect_err("bad").0.contains("true or false"));
}

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    fn cmp() -> impl Strategy<Value = Cmp> {
        prop_oneof![Just(Cmp::Ge), Just(Cmp::Gt), Just(Cmp::Eq), Just(Cmp::Le), Just(Cmp::Lt)]
    }

    fn size() -> impl Strategy<Value = String> {
        (1u32..200_000, prop::option::of(1u32..100), prop_oneof![Just("GB"), Just("GiB"), Just("MB"), Just("MiB")])
            .prop_map(|(n, frac, unit)| match frac {
                Some(f) => format!("{n}.{f}{unit}"),
                None => format!("{n}{unit}"),
            })
    }

    fn request() -> impl Strategy<Value = GpuRequest> {
        (
            1u32..10_000,
            prop_oneof![Just(None), Just(Some(Vendor::Nvidia)), Just(Some(Vendor::Amd)), Just(Some(Vendor::Intel))],
            prop::option::of((cmp(), size())),
            prop::option::of((cmp(), any::<u8>(), any::<u8>())),
            prop::collection::vec("[a-z0-9_]{1,8}", 0..4),
            prop::option::of("[A-Za-z0-9*?_.=:-]([A-Za-z0-9*?_. =:-]{0,14}[A-Za-z0-9*?_.=:-])?"),
            any::<bool>(),
            prop_oneof![Just(Numa::Prefer), Just(Numa::Require), Just(Numa::Ignore)],
        )
            .prop_map(|(count, vendor, memory, cc, arch, model, same_model, numa)| GpuRequest {
                count,
                vendor,
                memory: memory.map(|(c, text)| (c, parse_size(&text).expect("generated size"), text)),
                // `validate` refuses cc on a non-NVIDIA vendor; such requests never exist.
                compute_capability: cc
                    .filter(|_| matches!(vendor, None | Some(Vendor::Nvidia)))
                    .map(|(c, a, b)| (c, (a, b))),
                arch,
                model,
                same_model,
                numa,
            })
    }

    proptest! {
        #[test]
        fn to_compact_round_trips(r in request()) {
            let text = r.to_compact();
            prop_assert_eq!(GpuRequest::parse(&text), Ok(r), "{}", text);
        }

        #[test]
        fn parse_then_compact_is_a_fixed_point(r in request()) {
            // Whatever parse accepts, its canonical form is stable.
            let once = GpuRequest::parse(&r.to_compact()).expect("canonical parses");
            prop_assert_eq!(once.to_compact(), r.to_compact());
        }
    }
}
