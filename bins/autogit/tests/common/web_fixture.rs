//! The site the web page tests browse: a public group `acme` with a private project `secret`
//! and a public project `site`, the same repository in both (README with markdown and raw HTML,
//! highlighted sources, a file with an awkward name, a binary file, an HTML file, a CI file
//! with `needs:`), members of every role on the group, and one finished pipeline whose job
//! logged colours, a section and markup and uploaded an artifacts archive ([`ARCHIVE_FILES`]).

use super::job_api::Ci;
use super::{Backend, git_ok};
use serde_json::Value;

pub const PASSWORD: &str = "a-long-password";

pub const CI_FILE: &str = "\
stages: [build, test, deploy]
build:
  stage: build
  script: [echo build]
  needs: []
lint:
  stage: build
  script: [echo lint]
test:
  stage: test
  script: [echo test]
  needs: [build]
deploy:
  stage: deploy
  script: [echo deploy]
  when: manual
";

/// A log as a runner writes it: a section, colours and text that looks like markup.
pub const LOG: &[u8] = b"\x1b[0Ksection_start:1700000000:prepare[collapsed=true]\r\x1b[0K\x1b[36;1mPreparing\x1b[0;m\n\
inside the section\n\x1b[0Ksection_end:1700000003:prepare\r\x1b[0K\n\x1b[32;1m$ echo build\x1b[0;m\n\
<script>alert('log')</script>\n\x1b[31mred words\x1b[0m\n";

/// The files of the build job's artifacts archive (zip, deflated unless said): markup that must
/// stay inert, a name that needs escaping, binary bytes, a file stored without compression that
/// spans several reads of the blob, and one larger than the browser's inline limit.
pub fn archive_files() -> Vec<(&'static str, Vec<u8>)> {
    let noise: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    vec![
        ("dist/index.html", b"<script>alert('artifact')</script><h1>site</h1>\n".to_vec()),
        ("dist/css/site.css", b"body { color: red }\n".to_vec()),
        ("report.txt", b"all 12 tests passed\n".to_vec()),
        ("a b/#x?.txt", b"awkward\n".to_vec()),
        ("bin/tool", vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 3]),
        ("stored/noise.bin", noise),
        ("big/zeros.txt", vec![b'0'; 11 * 1024 * 1024]),
    ]
}

/// The archive: [`archive_files`], a directory entry, a symbolic link and an entry named
/// outside the archive (`../escape.txt`), which the browser must leave out.
pub fn artifact_archive() -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default();
    let stored = deflated.compression_method(zip::CompressionMethod::Stored);
    w.add_directory("empty/", deflated).expect("dir");
    for (name, bytes) in archive_files() {
        w.start_file(name, if name.starts_with("stored/") { stored } else { deflated }).expect("file");
        w.write_all(&bytes).expect("write");
    }
    w.add_symlink("latest", "dist/index.html", deflated).expect("link");
    w.start_file("../escape.txt", deflated).expect("file");
    w.write_all(b"outside").expect("write");
    w.finish().expect("zip").into_inner()
}

pub struct Site {
    pub ci: Ci,
    pub runner_token: String,
    /// role name → (user id, API token)
    pub users: Vec<(&'static str, i64, String)>,
    pub secret_id: i64,
    pub site_id: i64,
    /// The finished job of the private project (its `build`).
    pub job: i64,
    pub pipeline: i64,
    pub head: String,
    pub first: String,
}

pub const ROLES: [(&str, u32); 4] = [("guest", 10), ("reporter", 20), ("developer", 30), ("maintainer", 40)];

impl Site {
    pub fn build(backend: Backend) -> Site {
        let ci = Ci::start(backend, &[]);
        let s = &ci.s;
        let g = s.post("/groups", &s.root_token, &[("name", "Acme"), ("path", "acme"), ("visibility", "public")]);
        let gid = g["id"].to_string();
        let mut users = Vec::new();
        for (role, level) in ROLES {
            let (id, token) = s.user(role, "api");
            let added = s.post(
                &format!("/groups/{gid}/members"),
                &s.root_token,
                &[("user_id", &id.to_string()), ("access_level", &level.to_string())],
            );
            assert_eq!(added["access_level"], level, "{added}");
            users.push((role, id, token));
        }
        let (id, token) = s.user("outsider", "api");
        users.push(("outsider", id, token));
        let secret = s.post(
            "/projects",
            &s.root_token,
            &[("name", "secret"), ("namespace_id", &gid), ("visibility", "private")],
        );
        let site =
            s.post("/projects", &s.root_token, &[("name", "site"), ("namespace_id", &gid), ("visibility", "public")]);
        let work = tempfile::tempdir().expect("tempdir");
        let d = work.path();
        std::fs::create_dir_all(d.join("src/deep")).expect("mkdir");
        std::fs::create_dir_all(d.join("docs")).expect("mkdir");
        std::fs::write(d.join(".gitlab-ci.yml"), CI_FILE).expect("write");
        std::fs::write(
            d.join("README.md"),
            "# Acme\n\nRead the [guide](docs/guide.md) and <b>this</b>.\n\n<script>alert('readme')</script>\n\n\
             <img src=x onerror=alert(1)>\n\n![logo](docs/logo.png)\n",
        )
        .expect("write");
        std::fs::write(d.join("docs/guide.md"), "# Guide\n").expect("write");
        std::fs::write(d.join("docs/a file #1.txt"), "awkward name\n").expect("write");
        std::fs::write(d.join("docs/logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0, 0]).expect("write");
        std::fs::write(d.join("page.html"), "<html><script>alert('raw')</script></html>\n").expect("write");
        let mut main = String::from("use std::io;\n\n/// Entry point.\nfn main() {\n");
        for i in 0..40 {
            main.push_str(&format!("    let v{i} = \"<{i}>\";\n"));
        }
        main.push_str("}\n");
        std::fs::write(d.join("src/main.rs"), &main).expect("write");
        std::fs::write(d.join("src/deep/lib.py"), "def f():\n    return 1\n").expect("write");
        git_ok(d, &["init", "-q", "-b", "main"]);
        git_ok(d, &["add", "-A"]);
        git_ok(d, &["-c", "user.name=Ann", "-c", "user.email=ann@example.com", "commit", "-q", "-m", "First commit"]);
        let first = git_ok(d, &["rev-parse", "HEAD"]).trim().to_string();
        std::fs::write(d.join("src/deep/lib.py"), "def f():\n    return 2\n").expect("write");
        git_ok(d, &["checkout", "-q", "-b", "feature/x"]);
        git_ok(
            d,
            &["-c", "user.name=Ann", "-c", "user.email=ann@example.com", "commit", "-qam", "Change <b>lib</b> & more"],
        );
        git_ok(d, &["checkout", "-q", "main"]);
        git_ok(d, &["merge", "-q", "--ff-only", "feature/x"]);
        git_ok(d, &["tag", "-a", "v1.0", "-m", "Release 1.0"]);
        let head = git_ok(d, &["rev-parse", "HEAD"]).trim().to_string();
        for name in ["acme/secret", "acme/site"] {
            git_ok(d, &["push", "-q", &s.git_url(name, &s.root_token), "main", "feature/x", "v1.0"]);
        }
        let secret_id = secret["id"].as_i64().expect("id");
        let (_, runner_token) = ci.runner(&[("run_untagged", "true")]);
        let p = ci.pipeline(secret_id);
        let pipeline = p["id"].as_i64().expect("pipeline id");
        // The runner takes `build` (needs: []) or `lint` first; finish whichever it gets, with
        // the log, until `build` is done.
        let mut job = 0;
        for _ in 0..2 {
            let j = ci.take(&runner_token);
            let (id, token) = (j["id"].as_i64().expect("id"), j["token"].as_str().expect("token").to_string());
            if j["job_info"]["name"] == "build" {
                job = id;
                assert_eq!(ci.patch(id, &token, Some("0-"), LOG).status(), 202);
                assert_eq!(ci.upload(id, &token, &artifact_archive()).status(), 201);
            }
            assert_eq!(ci.update(id, &token, "success").status(), 200);
            if job != 0 {
                break;
            }
        }
        assert!(job != 0, "build was handed out");
        Site {
            site_id: site["id"].as_i64().expect("id"),
            ci,
            runner_token,
            users,
            secret_id,
            job,
            pipeline,
            head,
            first,
        }
    }

    pub fn token(&self, role: &str) -> &str {
        self.users.iter().find(|(r, _, _)| *r == role).map(|(_, _, t)| t.as_str()).expect("role")
    }
}

/// The API's answer status for `path` with `token` (`""`: anonymous).
pub fn api_status(ci: &Ci, path: &str, token: &str) -> u16 {
    let mut r = ci.http.get(ci.url(path));
    if !token.is_empty() {
        r = r.header("PRIVATE-TOKEN", token);
    }
    r.send().expect("api").status().as_u16()
}

pub fn json(v: &Value) -> String {
    v.to_string()
}
