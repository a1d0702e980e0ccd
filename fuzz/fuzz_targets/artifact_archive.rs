//! An uploaded artifacts archive as the archive browser reads it: any bytes give a listing or an
//! error, never a panic, and every listed path stays inside the archive.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = autogit_app::ci::artifact_browse::list_entries(std::io::Cursor::new(data)) {
        for e in entries {
            assert_eq!(autogit_app::ci::artifact_browse::entry_path(&e.path), Some(e.path.as_str()));
        }
    }
});
