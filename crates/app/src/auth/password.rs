//! argon2id password hashes in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`),
//! computed in memory that goes back to the operating system when it is freed (`work_area`
//! keeps a few areas between checks while sign-ins keep coming).
//!
//! Why the memory is handled here: one check at argon2's default cost fills 19 MiB. Allocated as
//! an ordinary `Vec`, glibc's malloc serves it from a per-thread arena once its dynamic mmap
//! threshold has risen to that size (it rises to the size of any mapped block freed, up to
//! 32 MiB), and freed arena memory stays with the process: 50 concurrent checks left ~1 GB
//! resident for good. Here the blocks live in a `Vec` whose *capacity* is at least
//! [`MAPPED_CAPACITY`] (65 MiB): above glibc's largest dynamic mmap threshold and larger than a
//! whole per-thread arena heap (64 MiB), so glibc can only serve it with a mapping of its own and
//! unmaps it when it is freed. Only the blocks the hash uses are written, so only those become
//! resident; the rest of the capacity is untouched address space. musl and the common
//! alternative allocators map allocations this large directly too. No unsafe code and no
//! process-wide allocator setting is involved (`MALLOC_MMAP_THRESHOLD_` above 65 MiB in the
//! server's environment would defeat it).
//!
//! Stored hashes keep working whatever their parameters: algorithm, version, costs, salt and
//! output length are read from the PHC string, and the output is compared in constant time.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Bytes reserved for every computation (see the module doc).
pub const MAPPED_CAPACITY: usize = 65 << 20;

/// Stored hashes that ask for more memory than this (KiB) are refused rather than computed:
/// the concurrency limit bounds memory only while each check is bounded.
const MAX_MEMORY_KIB: u32 = 64 << 10;

/// Why a stored hash could not be checked (a wrong password is not an error).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("stored password hash is not a valid argon2 PHC string: {0}")]
    Format(String),
    #[error("stored password hash asks for {0} KiB of memory (at most {MAX_MEMORY_KIB} KiB are allowed)")]
    TooCostly(u32),
}

fn format_err(e: impl std::fmt::Display) -> HashError {
    HashError::Format(e.to_string())
}

/// Hashes `password` with the default parameters and this salt, in `area` (see `work_area`;
/// an empty `Vec` works too: it is given the capacity it needs).
pub fn hash(password: &[u8], salt: [u8; 16], area: &mut Vec<Block>) -> Result<String, HashError> {
    let params = Params::DEFAULT;
    let salt = SaltString::encode_b64(&salt).map_err(format_err)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(Algorithm::Argon2id, Version::V0x13, &params, password, &salt_bytes(&salt)?, &mut out, area)?;
    phc(&params, &salt, &out)
}

/// Whether `password` matches the stored PHC string (computed in `area`, as [`hash`]).
pub fn verify(stored: &str, password: &[u8], area: &mut Vec<Block>) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(stored).map_err(format_err)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(format_err)?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(format_err)?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(format_err)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::Format("salt or hash missing".into()));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(format_err)?;
    let mut out = vec![0u8; expected.len()];
    compute(algorithm, version, &params, password, salt, &mut out, area)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(format_err)? == expected)
}

/// A hash of nothing anyone knows, with the default parameters and random salt and output:
/// checking a password against it costs what checking a real one does.
pub fn dummy(salt: [u8; 16], output: [u8; Params::DEFAULT_OUTPUT_LEN]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&salt).map_err(format_err)?;
    phc(&Params::DEFAULT, &salt, &output)
}

fn salt_bytes(salt: &SaltString) -> Result<Vec<u8>, HashError> {
    let mut buf = [0u8; 64];
    Ok(salt.as_salt().decode_b64(&mut buf).map_err(format_err)?.to_vec())
}

fn phc(params: &Params, salt: &SaltString, out: &[u8]) -> Result<String, HashError> {
    let h = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(format_err)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out).map_err(format_err)?),
    };
    Ok(h.to_string())
}

fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), HashError> {
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(HashError::TooCostly(params.m_cost()));
    }
    let blocks = params.block_count();
    // Within the capacity (MAX_MEMORY_KIB < MAPPED_CAPACITY): never a reallocation, and a reused
    // area's pages are already in memory. Argon2 writes every block before it reads it.
    let capacity = MAPPED_CAPACITY / Block::SIZE;
    if memory.capacity() < capacity {
        memory.reserve_exact(capacity - memory.len());
    }
    memory.resize(blocks, Block::default());
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut memory[..])
        .map_err(format_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn round_trip_and_wrong_passwords() {
        let h = hash(b"correct horse", [7; 16], &mut Vec::new()).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, b"correct horse", &mut Vec::new()).expect("valid hash"));
        assert!(!verify(&h, b"correct horsf", &mut Vec::new()).expect("valid hash"));
        assert!(verify("not a phc string", b"x", &mut Vec::new()).is_err());
        // One area serves check after check, at its mapped capacity (never reallocated).
        let mut area = Vec::new();
        assert!(verify(&h, b"correct horse", &mut area).expect("valid"));
        let at = area.as_ptr();
        assert!(area.capacity() * Block::SIZE >= MAPPED_CAPACITY);
        assert!(!verify(&h, b"wrong", &mut area).expect("valid"));
        assert!(verify(&h, b"correct horse", &mut area).expect("valid"));
        assert_eq!(area.as_ptr(), at);
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_keep_working_both_ways() {
        // Hashes stored before this module existed were made by `Argon2::default()`.
        let salt = SaltString::encode_b64(&[3; 16]).expect("salt");
        let theirs = Argon2::default().hash_password(b"pw-1", &salt).expect("hash").to_string();
        assert!(verify(&theirs, b"pw-1", &mut Vec::new()).expect("valid"));
        assert!(!verify(&theirs, b"pw-2", &mut Vec::new()).expect("valid"));
        let ours = hash(b"pw-1", [3; 16], &mut Vec::new()).expect("hash");
        assert_eq!(ours, theirs, "same parameters and salt give the same PHC string");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default().verify_password(b"pw-1", &parsed).is_ok());
    }

    #[test]
    fn other_parameters_are_read_from_the_stored_hash() {
        let salt = SaltString::encode_b64(&[5; 16]).expect("salt");
        let params = Params::new(1024, 1, 2, Some(24)).expect("params");
        let argon = Argon2::new(Algorithm::Argon2i, Version::V0x10, params);
        let stored = argon.hash_password(b"old", &salt).expect("hash").to_string();
        assert!(stored.starts_with("$argon2i$v=16$m=1024,t=1,p=2$"), "{stored}");
        assert!(verify(&stored, b"old", &mut Vec::new()).expect("valid"));
        assert!(!verify(&stored, b"new", &mut Vec::new()).expect("valid"));
    }

    #[test]
    fn the_dummy_has_the_default_parameters_and_matches_nothing() {
        let d = dummy([1; 16], [2; 32]).expect("dummy");
        let real = hash(b"x", [1; 16], &mut Vec::new()).expect("hash");
        assert_eq!(d.rsplit_once('$').map(|p| p.0), real.rsplit_once('$').map(|p| p.0), "same prefix as a real hash");
        assert!(!verify(&d, b"x", &mut Vec::new()).expect("valid"));
        assert!(!verify(&d, b"", &mut Vec::new()).expect("valid"));
    }

    #[test]
    fn costly_stored_hashes_are_refused_before_any_work() {
        let stored =
            "$argon2id$v=19$m=4194304,t=2,p=1$AwMDAwMDAwMDAwMDAwMDAw$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(verify(stored, b"x", &mut Vec::new()), Err(HashError::TooCostly(4194304))));
    }
}
