//! A runner's connection status, as GitLab words it: decided from how long ago the runner last
//! asked for work (or was created, when it never has). Pure: the caller passes the ages, so the
//! same rule serves the API, the admin pages and tests with any clock.
//!
//! GitLab's thresholds (`Ci::Runner::ONLINE_CONTACT_TIMEOUT` = 2 hours; a runner is `stale`
//! after 3 months without contact, or 3 months after it was created if it never made contact —
//! gitlab-org/gitlab#342799).

/// Contact within this many seconds keeps a runner online.
pub const ONLINE_CONTACT_SECS: i64 = 2 * 60 * 60;
/// No contact for this long (about three months) makes a runner stale.
pub const STALE_AFTER_SECS: i64 = 90 * 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Online,
    Offline,
    Stale,
    NeverContacted,
}

impl Connection {
    /// `since_contact`: seconds since the last contact (`None`: never); `since_created`: seconds
    /// since the runner was created. A clock that went backwards (negative ages) counts as now.
    pub fn of(since_contact: Option<i64>, since_created: i64) -> Connection {
        match since_contact {
            Some(age) if age <= ONLINE_CONTACT_SECS => Connection::Online,
            Some(age) if age <= STALE_AFTER_SECS => Connection::Offline,
            Some(_) => Connection::Stale,
            None if since_created > STALE_AFTER_SECS => Connection::Stale,
            None => Connection::NeverContacted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Online => "online",
            Connection::Offline => "offline",
            Connection::Stale => "stale",
            Connection::NeverContacted => "never_contacted",
        }
    }

    /// The `status` word of API v4's runner object: a paused runner that has made contact and
    /// is not stale reads `paused`, as GitLab's REST answer does; otherwise the connection.
    pub fn rest_status(self, paused: bool) -> &'static str {
        match self {
            Connection::Online | Connection::Offline if paused => "paused",
            other => other.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Connection::{self, *};
    use super::*;

    #[test]
    fn contact_age_decides_online_offline_and_stale() {
        assert_eq!(Connection::of(Some(0), 10), Online);
        assert_eq!(Connection::of(Some(-5), 10), Online, "a clock step backwards is not an absence");
        assert_eq!(Connection::of(Some(ONLINE_CONTACT_SECS), 10), Online);
        assert_eq!(Connection::of(Some(ONLINE_CONTACT_SECS + 1), 10), Offline);
        assert_eq!(Connection::of(Some(STALE_AFTER_SECS), STALE_AFTER_SECS * 2), Offline);
        assert_eq!(Connection::of(Some(STALE_AFTER_SECS + 1), STALE_AFTER_SECS * 2), Stale);
    }

    #[test]
    fn a_runner_that_never_asked_for_work_goes_stale_from_its_creation() {
        assert_eq!(Connection::of(None, 0), NeverContacted);
        assert_eq!(Connection::of(None, STALE_AFTER_SECS), NeverContacted);
        assert_eq!(Connection::of(None, STALE_AFTER_SECS + 1), Stale);
    }

    #[test]
    fn paused_shows_only_over_a_live_connection_state() {
        assert_eq!(Online.rest_status(true), "paused");
        assert_eq!(Offline.rest_status(true), "paused");
        assert_eq!(Offline.rest_status(false), "offline");
        assert_eq!(Stale.rest_status(true), "stale");
        assert_eq!(NeverContacted.rest_status(true), "never_contacted");
    }
}
