//! The autoscaler with the process provider, for real: a pool configured to scale from zero
//! starts `autogit runner` instances when jobs wait, runs them, and removes the instances (and
//! their runner records) once idle; `autogit pool list` shows it.

mod common;

use common::ci::{latest_pipeline, push_ci, wait_for};
use common::{Server, backends, git_ok};
use serde_json::Value;
use std::time::{Duration, Instant};

fn pools(s: &Server) -> Value {
    s.get_json("/admin/ci/pools", &s.root_token)
}

fn instances(s: &Server) -> usize {
    pools(s)[0]["instances"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_process_pool_scales_from_zero_and_back() {
    for backend in backends() {
        let cfg = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(
            cfg.path(),
            "[[ci.pools]]\nname = \"local\"\nprovider = \"process\"\nmin_idle = 0\nmax_instances = 2\nidle_time_seconds = 2\n",
        )
        .expect("write config");
        let s = Server::start_with(backend, &[("AUTOGIT_CONFIG", cfg.path().to_str().expect("utf8"))]);
        wait_for("the pool to appear", Duration::from_secs(20), || {
            let p = pools(&s);
            if p[0]["name"] == "local" { Ok(()) } else { Err(p.to_string()) }
        });
        assert_eq!(instances(&s), 0, "nothing runs before there is work");

        let p = s.post("/projects", &s.root_token, &[("name", "scaled")]);
        let project = p["id"].as_i64().expect("id");
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            work.path().join(".gitlab-ci.yml"),
            "a:\n  script: echo job a ran\nb:\n  script: echo job b ran\n",
        )
        .expect("write");
        git_ok(work.path(), &["init", "-q", "-b", "main"]);
        git_ok(work.path(), &["add", "-A"]);
        git_ok(work.path(), &["commit", "-q", "-m", "ci"]);
        let pushed = Instant::now();
        git_ok(work.path(), &["push", "-q", &s.git_url("root/scaled", &s.root_token), "main"]);
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("pipeline");
        wait_for("jobs to run on scaled-up instances", Duration::from_secs(60), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            if p["status"] == "success" { Ok(()) } else { Err(format!("{} pools {}", p["status"], pools(&s))) }
        });
        eprintln!("push → pipeline success from zero instances: {:?}", pushed.elapsed());
        let p = pools(&s);
        assert!(p[0]["scale_ups"].as_u64() >= Some(1), "{p}");
        // The decision that started them, with its reason, newest first.
        let decisions = p[0]["recent_decisions"].as_array().expect("decisions");
        let up = decisions.iter().find(|d| d["action"] == "increase").unwrap_or_else(|| panic!("{p}"));
        assert!(up["reason"].as_str().is_some_and(|r| r.contains("job(s) waiting")), "{up}");
        let runners = s.get_json("/runners/all", &s.root_token);
        assert!(
            runners
                .as_array()
                .expect("runners")
                .iter()
                .any(|r| r["description"].as_str().is_some_and(|d| d.starts_with("pool local:"))),
            "instances run as their own runners: {runners}"
        );
        // Idle past idle_time_seconds: scaled back to zero, runner records gone.
        wait_for("scale down to zero", Duration::from_secs(60), || {
            let n = instances(&s);
            if n == 0 { Ok(()) } else { Err(format!("{n} instances: {}", pools(&s))) }
        });
        wait_for("pool runners deleted", Duration::from_secs(20), || {
            let runners = s.get_json("/runners/all", &s.root_token);
            let left = runners.as_array().expect("runners").len();
            if left == 0 { Ok(()) } else { Err(runners.to_string()) }
        });
        let metrics = reqwest::blocking::get(s.raw("/metrics")).expect("metrics").text().expect("text");
        assert!(metrics.contains("autogit_pool_scale_ups{pool=\"local\"} 2"), "{metrics}");
        assert!(
            metrics
                .contains("autogit_pool_provider_call_seconds_count{pool=\"local\",call=\"increase\",result=\"ok\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("autogit_ci_queue_wait_seconds_count{pool=\"local\",tags=\"\"} 2"), "{metrics}");
        assert!(
            metrics.contains("autogit_pool_instances{pool=\"local\",state=\"running\"} 0"),
            "board {} metrics {metrics}",
            pools(&s)
        );
        let out = s.autogit(&["pool", "list", "--url", &s.url, "--token", &s.root_token]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("pool local (process, "), "{text}");
    }
}

fn instance_ids(s: &Server) -> Vec<String> {
    let p = pools(s);
    let list = p[0]["instances"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|i| i["id"].as_str().map(str::to_string)).collect()
}

#[test]
fn after_kill_9_the_restarted_coordinator_adopts_its_instances_and_runs_jobs_on_them() {
    for backend in backends() {
        let cfg = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(
            cfg.path(),
            "[[ci.pools]]\nname = \"warm\"\nprovider = \"process\"\nmin_idle = 1\nmax_instances = 2\nidle_time_seconds = 600\n",
        )
        .expect("write config");
        let mut s = Server::start_with(backend, &[("AUTOGIT_CONFIG", cfg.path().to_str().expect("utf8"))]);
        let before = wait_for("one warm instance", Duration::from_secs(30), || {
            let p = pools(&s);
            let ready = p[0]["instances"].as_array().is_some_and(|a| a.len() == 1 && a[0]["state"] == "running");
            if ready { Ok(instance_ids(&s)) } else { Err(p.to_string()) }
        });
        // A crash: no shutdown, instances keep running in their own process groups.
        s.crash_and_restart();
        let after = wait_for("the instance to be adopted", Duration::from_secs(30), || {
            let ids = instance_ids(&s);
            if ids.is_empty() { Err(pools(&s).to_string()) } else { Ok(ids) }
        });
        assert_eq!(after, before, "the same instance, adopted, not a new one");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(instance_ids(&s), before, "no second instance for the same idle target");
        assert_eq!(pools(&s)[0]["scale_ups"], 0, "nothing was started after the restart");

        // The adopted instance still takes work.
        let project = push_ci(&s, "adopted", "hello:\n  script: echo adopted instance ran\n");
        let pid = latest_pipeline(&s, project)["id"].as_i64().expect("pipeline");
        wait_for("the job on the adopted instance", Duration::from_secs(60), || {
            let p = s.get_json(&format!("/projects/{project}/pipelines/{pid}"), &s.root_token);
            if p["status"] == "success" { Ok(()) } else { Err(format!("{} {}", p["status"], pools(&s))) }
        });
    }
}
