//! Resource limits for untrusted CI files.
//!
//! Every limit is checked before the work it bounds is done: the input size before parsing,
//! the alias budget before an anchored node is copied, the nesting depth before a frame is
//! pushed. So a 50 MB file or a billion-laughs document costs milliseconds and little memory.

/// Hard limits of one compilation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted file, in bytes (each file separately).
    pub max_file_bytes: usize,
    /// Most nodes the trees of all files may hold, aliases expanded.
    pub max_nodes: usize,
    /// Most scalar bytes the trees may hold, aliases expanded.
    pub max_bytes: usize,
    /// Deepest nesting of collections.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 4 << 20, max_nodes: 1_000_000, max_bytes: 32 << 20, max_depth: 100 }
    }
}

/// What has been spent of the limits so far; shared by all files of one compilation.
#[derive(Debug, Default, Clone)]
pub struct Budget {
    pub nodes: usize,
    pub bytes: usize,
}

impl Budget {
    /// Spends `nodes` and `bytes`; false when that would exceed the limits (nothing is spent).
    pub fn spend(&mut self, limits: &Limits, nodes: usize, bytes: usize) -> bool {
        let n = self.nodes.saturating_add(nodes);
        let b = self.bytes.saturating_add(bytes);
        if n > limits.max_nodes || b > limits.max_bytes {
            return false;
        }
        self.nodes = n;
        self.bytes = b;
        true
    }
}
