//! Fuzzes the parsers that see raw git request bodies and headers: the incremental pkt-line
//! decoder (fed in two chunks split at a data-chosen point), the receive-pack command list parser
//! and the `Git-Protocol` header validator. Beyond "never panics", it checks invariants: a
//! decoded data packet re-encodes to the bytes it came from, and a parsed command list only
//! contains updates that pass the same validation the parser applies.

#![no_main]

use autogit_git::pktline::{self, Decoder, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut decoder = Decoder::new();
    let mut reencoded = Vec::new();
    for chunk in [&data[..split], &data[split..]] {
        decoder.feed(chunk);
        while let Ok(Some(packet)) = decoder.next_packet() {
            match packet {
                Packet::Data(d) => pktline::encode_into(&mut reencoded, d).expect("decoded data fits a packet"),
                Packet::Flush => reencoded.extend_from_slice(pktline::FLUSH),
                Packet::Delim => reencoded.extend_from_slice(pktline::DELIM),
                Packet::ResponseEnd => reencoded.extend_from_slice(pktline::RESPONSE_END),
            }
        }
    }
    // Decoding consumed a prefix; it re-encodes to the same bytes up to the hex digits' case.
    assert!(reencoded.eq_ignore_ascii_case(&data[..reencoded.len()]));
    assert_eq!(reencoded.len() + decoder.remaining().len(), data.len());

    if let Ok(Some(req)) = pktline::parse_receive_request(data) {
        assert!(req.consumed <= data.len());
        for u in &req.updates {
            assert!(pktline::is_valid_oid(&u.old) && pktline::is_valid_oid(&u.new));
            assert!(pktline::validate_ref_name(&u.name).is_ok());
        }
    }

    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(valid) = pktline::validate_git_protocol(s) {
            assert!(valid.len() <= 256 && !valid.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        }
        let _ = pktline::protocol_version(Some(s));
    }
});
