//! A push is never acknowledged without its consequences: the server is SIGKILLed the moment
//! `git push` reports success, again and again, and after each restart every acknowledged push
//! has exactly one push event per ref and exactly one pipeline per ref, already processed
//! (its jobs queued), on SQLite and PostgreSQL.

mod common;

use common::{Backend, Server, backends, git_ok, work_repo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ITERATIONS: usize = 20;
/// Refs per push: several at once, so that a crash can fall between two of them.
const REFS_PER_PUSH: usize = 2;
const CI: &str = "test:\n  script:\n    - echo hello\n";

fn all_pages(s: &Server, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let sep = if path.contains('?') { '&' } else { '?' };
        let v = s.get_json(&format!("{path}{sep}per_page=100&page={page}"), &s.root_token);
        let items = v.as_array().cloned().unwrap_or_default();
        let done = items.len() < 100;
        out.extend(items);
        if done {
            break;
        }
    }
    out
}

fn kill_loop(backend: Backend) {
    let mut s = Server::start_on(backend);
    s.post("/projects", &s.root_token, &[("name", "durable")]);
    let url = s.git_url("root/durable", &s.root_token);
    let (_t, work) = work_repo(1);
    std::fs::write(work.join(".gitlab-ci.yml"), CI).expect("write");
    git_ok(&work, &["add", "-A"]);
    git_ok(&work, &["commit", "-q", "-m", "ci"]);

    let started = Instant::now();
    // ref name -> the commit its acknowledged push set it to
    let mut acknowledged = BTreeMap::new();
    for i in 0..ITERATIONS {
        std::fs::write(work.join("counter.txt"), format!("{i}\n")).expect("write");
        git_ok(&work, &["add", "-A"]);
        git_ok(&work, &["commit", "-q", "-m", &format!("iteration {i}")]);
        let sha = git_ok(&work, &["rev-parse", "HEAD"]);
        let refspecs: Vec<String> = (0..REFS_PER_PUSH).map(|r| format!("HEAD:refs/heads/it{i}-{r}")).collect();
        let mut args = vec!["push", "-q", url.as_str()];
        args.extend(refspecs.iter().map(String::as_str));
        // git_ok asserts success: from here on the push is acknowledged.
        git_ok(&work, &args);
        // Mostly at once; sometimes a little later, so that the kill also lands while the
        // server is writing the push's events or between its pipelines.
        std::thread::sleep(Duration::from_millis((i % 4) as u64 * 25));
        s.crash_and_restart();
        for r in 0..REFS_PER_PUSH {
            acknowledged.insert(format!("it{i}-{r}"), sha.clone());
        }
    }
    eprintln!("{backend:?}: {ITERATIONS} kill -9 iterations in {:?}", started.elapsed());

    // Recovery runs before the server listens, so everything is there at once.
    let events = all_pages(&s, "/projects/root%2Fdurable/events");
    let mut event_count: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        let r = e["push_data"]["ref"].as_str().expect("ref").to_string();
        event_count.entry(r).or_default().push(e["push_data"]["commit_to"].as_str().unwrap_or("").to_string());
    }
    let pipelines = all_pages(&s, "/projects/root%2Fdurable/pipelines");
    let mut pipeline_count: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &pipelines {
        let r = p["ref"].as_str().expect("ref").to_string();
        let entry = (p["sha"].as_str().unwrap_or("").to_string(), p["status"].as_str().unwrap_or("").to_string());
        pipeline_count.entry(r).or_default().push(entry);
    }
    let mut missing = Vec::new();
    for (r, sha) in &acknowledged {
        match event_count.get(r).map(Vec::as_slice) {
            Some([to]) if to == sha => {}
            other => missing.push(format!("{r}: push events {other:?}, expected exactly one to {sha}")),
        }
        match pipeline_count.get(r).map(Vec::as_slice) {
            // No runner exists: a processed pipeline has its job queued, so it is pending.
            Some([(p_sha, status)]) if p_sha == sha && status == "pending" => {}
            other => missing.push(format!("{r}: pipelines {other:?}, expected exactly one pending at {sha}")),
        }
    }
    assert!(
        missing.is_empty(),
        "{backend:?}: {} of {} acknowledged refs lack their consequences:\n{}",
        missing.len(),
        acknowledged.len(),
        missing.join("\n")
    );
    assert_eq!(events.len(), acknowledged.len(), "no other push events");
    assert_eq!(pipelines.len(), acknowledged.len(), "no other pipelines");
}

#[test]
fn every_acknowledged_push_survives_kill_9() {
    for backend in backends() {
        kill_loop(backend);
    }
}
