//! The job trace as the runner produces it.
//!
//! Secrets (masked variables, the job token) are replaced by `[MASKED]` before a byte leaves the
//! machine, and so are their base64 forms (standalone, and inside a longer base64 stream; see
//! `base64_forms`), which GitLab does not mask. A secret can be split across two writes, so the
//! buffer holds back the last `longest secret - 1` bytes of unmasked output until more arrives or
//! the job ends. The output is capped (GitLab's default 4 MiB) with a final notice, and the
//! checksum covers exactly what was sent. Masking is best-effort: protected branches and protected
//! variables, not the mask, keep secrets from jobs that should not have them.

mod base64_forms;

use autogit_protocol::trace_checksum;

/// GitLab's default `output_limit`.
pub const DEFAULT_OUTPUT_LIMIT: usize = 4 << 20;
const MASK: &[u8] = b"[MASKED]";
/// GitLab does not mask values shorter than 8 characters; masking 1-character values would
/// destroy the log.
pub const MIN_MASKED_LEN: usize = 8;

pub struct TraceBuffer {
    secrets: Vec<Vec<u8>>,
    hold: usize,
    pending: Vec<u8>,
    /// Everything released for sending, masked.
    sent: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl TraceBuffer {
    pub fn new(secrets: impl IntoIterator<Item = String>, limit: usize) -> Self {
        let mut secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_MASKED_LEN)
            .flat_map(|s| {
                let mut forms = base64_forms::base64_forms(s.as_bytes(), MIN_MASKED_LEN);
                forms.push(s.into_bytes());
                forms
            })
            .collect();
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let hold = secrets.first().map(|s| s.len() - 1).unwrap_or(0);
        TraceBuffer { secrets, hold, pending: Vec::new(), sent: Vec::new(), limit, truncated: false }
    }

    /// Adds output; returns the newly releasable (masked) bytes.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        self.release(false)
    }

    /// Flushes everything held back (end of the job).
    pub fn finish(&mut self) -> Vec<u8> {
        self.release(true)
    }

    fn release(&mut self, all: bool) -> Vec<u8> {
        let matches = find_secrets(&self.pending, &self.secrets);
        // Keep back a tail that might be the start of a secret, and never cut inside a match.
        let mut cut = self.pending.len() - if all { 0 } else { self.safe_hold() };
        if let Some(&(start, _)) = matches.iter().find(|&&(start, end)| start < cut && cut < end) {
            cut = start;
        }
        let mut out = Vec::with_capacity(cut);
        let mut pos = 0;
        for &(start, end) in matches.iter().filter(|&&(_, end)| end <= cut) {
            out.extend_from_slice(&self.pending[pos..start]);
            out.extend_from_slice(MASK);
            pos = end;
        }
        out.extend_from_slice(&self.pending[pos..cut]);
        self.pending.drain(..cut);
        self.admit(out)
    }

    /// How many trailing raw bytes must wait: the longest suffix of `pending` that is a proper
    /// prefix of some secret.
    fn safe_hold(&self) -> usize {
        let max = self.hold.min(self.pending.len());
        (1..=max)
            .rev()
            .find(|&n| {
                let tail = &self.pending[self.pending.len() - n..];
                self.secrets.iter().any(|s| s.len() > n && s.starts_with(tail))
            })
            .unwrap_or(0)
    }

    fn admit(&mut self, out: Vec<u8>) -> Vec<u8> {
        if self.truncated {
            return Vec::new();
        }
        let room = self.limit.saturating_sub(self.sent.len());
        let mut out = out;
        if out.len() > room {
            out.truncate(room);
            let note = format!(
                "\nJob's log exceeded limit of {} bytes.\nJob execution will continue but no more output will be collected.\n",
                self.limit
            );
            out.extend_from_slice(note.as_bytes());
            self.truncated = true;
        }
        self.sent.extend_from_slice(&out);
        out
    }

    pub fn sent(&self) -> &[u8] {
        &self.sent
    }

    pub fn checksum(&self) -> String {
        trace_checksum(&self.sent)
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

/// Non-overlapping occurrences of any secret, left to right, longest secret first at each point.
fn find_secrets(data: &[u8], secrets: &[Vec<u8>]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match secrets.iter().find(|s| data[i..].starts_with(s)) {
            Some(s) => {
                found.push((i, i + s.len()));
                i += s.len();
            }
            None => i += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_split_across_writes() {
        let mut t = TraceBuffer::new(["supersecret123".to_string(), "short".to_string()], DEFAULT_OUTPUT_LIMIT);
        let mut out = t.push(b"token=super");
        out.extend(t.push(b"secret123 done short\n"));
        out.extend(t.finish());
        assert_eq!(String::from_utf8(out).expect("utf8"), "token=[MASKED] done short\n");
        assert_eq!(t.sent(), b"token=[MASKED] done short\n");
    }

    #[test]
    fn holds_back_only_what_could_be_a_secret() {
        let mut t = TraceBuffer::new(["abcdefghij".to_string()], DEFAULT_OUTPUT_LIMIT);
        assert_eq!(t.push(b"hello xyz"), b"hello xyz");
        assert_eq!(t.push(b" abc"), b" ");
        assert_eq!(t.push(b"dZ"), b"abcdZ");
        assert_eq!(t.finish(), b"");
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let secret = "glcbt-0123456789abcdef".to_string();
        let input = format!("clone https://gitlab-ci-token:{secret}@host/x.git\n{secret}{secret}\n");
        let mut a = TraceBuffer::new([secret.clone()], DEFAULT_OUTPUT_LIMIT);
        let mut out = Vec::new();
        for b in input.as_bytes() {
            out.extend(a.push(&[*b]));
        }
        out.extend(a.finish());
        let mut b = TraceBuffer::new([secret.clone()], DEFAULT_OUTPUT_LIMIT);
        let mut whole = b.push(input.as_bytes());
        whole.extend(b.finish());
        assert_eq!(out, whole);
        assert!(!String::from_utf8_lossy(&out).contains(&secret));
    }

    #[test]
    fn masks_base64_forms_even_split_across_writes() {
        let secret = "s3cr3t-v4lue-42";
        // `echo -n s3cr3t-v4lue-42 | base64` and `printf 'user:s3cr3t-v4lue-42' | base64`
        let input = "plain czNjcjN0LXY0bHVlLTQy basic dXNlcjpzM2NyM3QtdjRsdWUtNDI= done\n";
        let mut t = TraceBuffer::new([secret.to_string()], DEFAULT_OUTPUT_LIMIT);
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(5) {
            out.extend(t.push(chunk));
        }
        out.extend(t.finish());
        let out = String::from_utf8(out).expect("utf8");
        assert!(!out.contains("czNjcjN0LXY0bHVlLTQy"), "{out}");
        assert!(!out.contains("zM2NyM3QtdjRsdWUtND"), "{out}");
        assert!(out.starts_with("plain [MASKED] basic dXNlcjp"), "the context stays: {out}");
        assert!(out.ends_with(" done\n"), "{out}");
        // The minimum length still holds: a short value and its encoding are left alone.
        let mut t = TraceBuffer::new(["short".to_string()], DEFAULT_OUTPUT_LIMIT);
        let mut out = t.push(b"short c2hvcnQ=\n");
        out.extend(t.finish());
        assert_eq!(out, b"short c2hvcnQ=\n");
    }

    #[test]
    fn output_limit_truncates_with_a_notice() {
        let mut t = TraceBuffer::new(Vec::<String>::new(), 10);
        let out = t.push(b"0123456789abcdef");
        assert!(out.starts_with(b"0123456789\nJob's log exceeded limit"));
        assert!(t.truncated());
        assert!(t.push(b"more").is_empty());
        assert_eq!(t.checksum(), trace_checksum(t.sent()));
    }
}
