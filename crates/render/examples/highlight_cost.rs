//! How long highlighting a file takes and how much HTML it makes (`cargo run --release -p
//! autogit-render --example highlight_cost -- FILE`), for the blob page's budget.

fn main() {
    let path = std::env::args().nth(1).expect("a file");
    let text = std::fs::read_to_string(&path).expect("read");
    let t = std::time::Instant::now();
    let h = autogit_render::highlight::Highlighter::new();
    let load = t.elapsed();
    println!("before: {}", rss());
    for round in 0..3 {
        let t = std::time::Instant::now();
        let lines = h.lines(&path, &text);
        let bytes: usize = lines.iter().map(String::len).sum();
        println!(
            "round {round}: {} lines, {bytes} bytes of HTML, {:?} (grammars loaded in {load:?}); RSS {}",
            lines.len(),
            t.elapsed(),
            rss()
        );
    }
}

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .unwrap_or_default()
}
