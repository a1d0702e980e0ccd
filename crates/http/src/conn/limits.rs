//! The file-descriptor budget the HTTP server's global connection cap must fit in. The caps
//! themselves are `autogit_core::conn_caps`, shared with the SSH server.

pub(crate) use autogit_core::conn_caps::{Admission, ConnectionLimits, Refusal};

/// The global cap that fits the open-file limit: half of the descriptors, the other half left
/// for the database, repository reads and the pipes of git children (three per git request).
pub(crate) fn fit_to_fd_limit(configured: usize, open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        Some(limit) => {
            let half = usize::try_from(limit / 2).unwrap_or(usize::MAX);
            configured.min(half).max(1)
        }
        None => configured.max(1),
    }
}

/// The soft `RLIMIT_NOFILE` of this process (what `accept` fails against with EMFILE).
pub(crate) fn open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _hard)) if soft != nix::sys::resource::RLIM_INFINITY => Some(soft),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-file limit; connections are capped by configuration only");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_cap_fits_half_the_descriptors() {
        assert_eq!(fit_to_fd_limit(512, Some(1024)), 512);
        assert_eq!(fit_to_fd_limit(512, Some(512)), 256);
        assert_eq!(fit_to_fd_limit(5000, Some(20_000)), 5000);
        assert_eq!(fit_to_fd_limit(512, Some(1)), 1, "never zero");
        assert_eq!(fit_to_fd_limit(512, None), 512);
    }
}
