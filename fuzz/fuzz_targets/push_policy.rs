//! Fuzzes the pre-receive hook's policy parser (`PushPolicy::decode`) on arbitrary text. Besides
//! "never panics", whatever it accepts encodes back to a text that decodes to the same policy, so
//! the server and the hook cannot read one policy two ways.

#![no_main]

use autogit_core::protection::PushPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = PushPolicy::decode(text) {
        let again = policy.encode().expect("a decoded policy encodes");
        assert_eq!(PushPolicy::decode(&again), Ok(policy), "re-decoded {text:?}");
    }
});
