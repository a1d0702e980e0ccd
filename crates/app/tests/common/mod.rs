//! What the application's integration tests share: a clock they move themselves.

use autogit_app::Clock;
use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// The time the application sees, moved on only by the test.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(start: DateTime<Utc>) -> Self {
        TestClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}
