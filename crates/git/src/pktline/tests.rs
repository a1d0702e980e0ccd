//! Unit tests and property tests for the pkt-line codec and the receive-pack command parser.

use super::*;
use proptest::prelude::*;

const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";
const Z: &str = "0000000000000000000000000000000000000000";

fn pkt(s: &str) -> Vec<u8> {
    encode(s.as_bytes()).expect("fits")
}

#[test]
fn encodes_like_git() {
    assert_eq!(pkt("a\n"), b"0006a\n");
    assert_eq!(pkt(""), b"0004");
    assert_eq!(pkt("# service=git-upload-pack\n"), b"001e# service=git-upload-pack\n");
    assert_eq!(flush(), b"0000");
    assert_eq!(encode(&vec![b'x'; MAX_PKT_DATA]).map(|v| v.len()), Ok(MAX_PKT_LEN));
    assert_eq!(encode(&vec![b'x'; MAX_PKT_DATA + 1]), Err(PktError::DataTooLong(MAX_PKT_DATA + 1)));
    assert_eq!(error_line("denied"), b"000fERR denied\n");
    assert_eq!(error_line(&"é".repeat(40000)).len(), MAX_PKT_LEN - 1);
}

#[test]
fn decodes_special_and_data_packets() {
    let input = b"0000000100020004000aabcdef0009ABCDE";
    let mut got = Vec::new();
    let mut rest: &[u8] = input;
    while let Some((p, n)) = parse_one(rest).expect("valid") {
        got.push(format!("{p:?}"));
        rest = &rest[n..];
    }
    assert_eq!(
        got,
        [
            "Flush",
            "Delim",
            "ResponseEnd",
            "Data([])",
            "Data([97, 98, 99, 100, 101, 102])",
            "Data([65, 66, 67, 68, 69])"
        ]
    );
    assert!(rest.is_empty());
    // Upper-case hex lengths are accepted, as git does.
    assert_eq!(parse_one(b"000Aabcdef"), Ok(Some((Packet::Data(b"abcdef"), 10))));
}

#[test]
fn rejects_malformed_lengths() {
    assert_eq!(parse_one(b"0003"), Err(PktError::ReservedLength(3)));
    assert_eq!(parse_one(b"00zz"), Err(PktError::BadLength(*b"00zz")));
    assert_eq!(parse_one(b"-001"), Err(PktError::BadLength(*b"-001")));
    assert_eq!(parse_one(b" 00a"), Err(PktError::BadLength(*b" 00a")));
    assert_eq!(parse_one(b"fff1"), Err(PktError::TooLong(0xfff1)));
    assert_eq!(parse_one(b"ffff"), Err(PktError::TooLong(0xffff)));
    // A maximal packet is merely incomplete until its bytes arrive.
    assert_eq!(parse_one(b"fff0abc"), Ok(None));
    assert_eq!(parse_one(b"000"), Ok(None));
}

#[test]
fn decoder_handles_byte_at_a_time_input() {
    let mut wire = pkt("hello\n");
    wire.extend_from_slice(flush());
    wire.extend_from_slice(b"PACK");
    let mut dec = Decoder::new();
    let mut seen = Vec::new();
    for b in &wire[..wire.len() - 4] {
        dec.feed(&[*b]);
        while let Some(p) = dec.next_packet().expect("valid") {
            seen.push(match p {
                Packet::Data(d) => String::from_utf8_lossy(d).into_owned(),
                other => format!("{other:?}"),
            });
        }
    }
    dec.feed(b"PACK");
    assert_eq!(seen, ["hello\n", "Flush"]);
    assert_eq!(dec.remaining(), b"PACK");
}

fn commands(lines: &[&str]) -> Vec<u8> {
    let mut out: Vec<u8> = lines.iter().flat_map(|l| pkt(l)).collect();
    out.extend_from_slice(flush());
    out
}

#[test]
fn parses_receive_commands() {
    let first = format!("{Z} {A} refs/heads/main\0 report-status side-band-64k object-format=sha1 agent=git/2.47\n");
    let mut body = commands(&[
        &format!("shallow {B}\n"),
        &first,
        &format!("{A} {B} refs/tags/v1\n"),
        &format!("{B} {Z} refs/heads/old"),
    ]);
    let cmd_len = body.len();
    body.extend_from_slice(b"PACK\0\0\0\x02");
    let req = parse_receive_request(&body).expect("valid").expect("complete");
    assert_eq!(req.consumed, cmd_len);
    assert_eq!(req.shallow, [B]);
    assert_eq!(req.updates.len(), 3);
    assert!(req.updates[0].is_create() && !req.updates[0].is_delete());
    assert_eq!(req.updates[0].branch(), Some("main"));
    assert_eq!(req.updates[1], RefUpdate { old: A.into(), new: B.into(), name: "refs/tags/v1".into() });
    assert_eq!(req.updates[1].tag(), Some("v1"));
    assert!(req.updates[2].is_delete());
    assert!(req.has_capability("report-status") && req.has_capability("object-format"));
    assert!(!req.has_capability("report-status-v2") && !req.has_capability("side-band"));
    // Every strict prefix of the command section is incomplete, never an error.
    for end in 0..cmd_len {
        assert_eq!(parse_receive_commands(&body[..end]), Ok(None), "prefix {end}");
    }
    assert_eq!(parse_receive_commands(b"0000"), Ok(Some((vec![], 4))));
}

#[test]
fn sha256_commands() {
    let (z, a) = ("0".repeat(64), "a".repeat(64));
    let body = commands(&[&format!("{z} {a} refs/heads/main\0object-format=sha256")]);
    let (updates, _) = parse_receive_commands(&body).expect("valid").expect("complete");
    assert!(updates[0].is_create());
}

#[test]
fn rejects_bad_commands() {
    let cases: Vec<(Vec<u8>, PktError)> = vec![
        (commands(&["push-cert\0report-status\n"]), PktError::PushCert),
        (commands(&[&format!("{A} {B}")]), PktError::BadCommand(format!("{A} {B}")[..80].into())),
        (commands(&[&format!("{Z} {Z} refs/heads/x")]), PktError::BadCommand("both object ids are zero".into())),
        (commands(&[&format!("{} {B} refs/heads/x", "AB".repeat(20))]), PktError::BadOid("AB".repeat(20))),
        (
            commands(&[&format!("{Z} {} refs/heads/x", "0".repeat(64))]),
            PktError::BadCommand("object ids of different hash algorithms".into()),
        ),
        (commands(&[&format!("shallow {A}x")]), PktError::BadOid(format!("{A}x"))),
        ([pkt(&format!("{A} {B} refs/heads/x")), DELIM.to_vec()].concat(), PktError::Unexpected("delim")),
        (
            commands(&[&format!("{A} {B} refs/heads/a"), &format!("{A} {B} refs/heads/b\0caps")]),
            PktError::BadCommand("NUL after the first command".into()),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(parse_receive_commands(&body), Err(want));
    }
}

#[test]
fn ref_names() {
    for ok in ["refs/heads/main", "refs/heads/feature/x-1", "refs/tags/v1.0", "refs/merge-requests/1/head"] {
        assert_eq!(validate_ref_name(ok), Ok(()), "{ok}");
    }
    let long = format!("refs/heads/{}", "a".repeat(1100));
    for bad in [
        "main",
        "refs/heads/../x",
        "refs/heads/a b",
        "refs/heads/x\n",
        "refs/heads/x\x7f",
        "refs/heads/",
        "refs/heads/x.",
        "refs/heads/.x",
        "refs/heads/x.lock",
        "refs/heads/a//b",
        "refs/heads/x@{1}",
        "refs/heads/a:b",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/*",
        "refs/heads/a\\b",
        "-refs/heads/x",
        &long,
    ] {
        assert!(validate_ref_name(bad).is_err(), "{bad:?}");
    }
}

fn packets() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    // None stands for a flush packet.
    prop::collection::vec(prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..300)), 0..20)
}

proptest! {
    #[test]
    fn decoder_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut dec = Decoder::new();
        for c in &chunks {
            dec.feed(c);
            while let Ok(Some(_)) = dec.next_packet() {}
        }
        let all: Vec<u8> = chunks.concat();
        let _ = parse_receive_request(&all);
    }

    #[test]
    fn hex_headers_never_panic(len in "[0-9a-fA-F]{4}", tail in prop::collection::vec(any::<u8>(), 0..32)) {
        let input = [len.as_bytes(), &tail].concat();
        let _ = parse_one(&input);
        let _ = parse_receive_commands(&input);
    }

    #[test]
    fn encode_then_decode_round_trips(pkts in packets(), split in 0usize..4096) {
        let mut wire = Vec::new();
        for p in &pkts {
            match p {
                Some(d) => encode_into(&mut wire, d).expect("fits"),
                None => wire.extend_from_slice(flush()),
            }
        }
        let split = split.min(wire.len());
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for part in [&wire[..split], &wire[split..]] {
            dec.feed(part);
            while let Some(p) = dec.next_packet().expect("valid") {
                out.push(match p {
                    Packet::Data(d) => Some(d.to_vec()),
                    Packet::Flush => None,
                    other => panic!("unexpected {other:?}"),
                });
            }
        }
        prop_assert_eq!(out, pkts);
        prop_assert!(dec.remaining().is_empty());
    }
}
