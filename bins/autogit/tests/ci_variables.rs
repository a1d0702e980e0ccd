//! CI/CD variables of projects and groups over real HTTP: create, list, show, update and delete;
//! GitLab's validation errors; environment scopes; who may see and change them.

mod common;

use common::{Server, backends};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends a form and returns the status and the JSON body (`null` when there is none).
fn form(s: &Server, method: Method, path: &str, token: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = s.req(method, path, token).form(fields).send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Sends a JSON body and returns the status and the JSON body.
fn send_json(s: &Server, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = s.req(method, path, token).json(&body).send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn get(s: &Server, path: &str, token: &str) -> (u16, Value) {
    let r = s.get(path, token);
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn delete(s: &Server, path: &str, token: &str) -> (u16, Value) {
    form(s, Method::DELETE, path, token, &[])
}

/// The first message of a field in a GitLab validation error.
fn field_error<'a>(body: &'a Value, field: &str) -> &'a str {
    body["message"][field][0].as_str().unwrap_or_else(|| panic!("no `{field}` error in {body}"))
}

fn keys(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|v| (v["key"].as_str().expect("key").to_string(), v["environment_scope"].as_str().expect("scope").into()))
        .collect()
}

#[test]
fn project_variables_round_trip_and_validation() {
    for b in backends() {
        let s = Server::start_on(b);
        let root = s.root_token.as_str();
        let g = s.post("/groups", root, &[("name", "Team"), ("path", "team")]);
        let gid = g["id"].to_string();
        let p = s.post("/projects", root, &[("name", "app"), ("namespace_id", &gid)]);
        let base = format!("/projects/{}/variables", p["id"]);
        // The project may also be addressed by its URL-encoded full path.
        let by_path = "/projects/team%2Fapp/variables";

        // Create with a form: every field of GitLab's shape comes back.
        let (st, v) = form(
            &s,
            Method::POST,
            &base,
            root,
            &[("key", "DEPLOY_TOKEN"), ("value", "plain value $X"), ("protected", "true"), ("description", "deploys")],
        );
        assert_eq!(st, 201, "{b:?}: {v}");
        assert_eq!(
            v,
            json!({
                "variable_type": "env_var", "key": "DEPLOY_TOKEN", "value": "plain value $X", "protected": true,
                "masked": false, "hidden": false, "raw": false, "environment_scope": "*", "description": "deploys",
            })
        );
        // Create with JSON: masked and raw.
        let (st, v) = send_json(
            &s,
            Method::POST,
            by_path,
            root,
            json!({"key": "API_SECRET", "value": "c2VjcmV0LXZhbHVl==", "masked": true, "raw": true}),
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            (v["masked"].as_bool(), v["raw"].as_bool(), v["protected"].as_bool()),
            (Some(true), Some(true), Some(false))
        );
        assert_eq!(v["description"], Value::Null);
        // A file variable keeps its multi-line value byte for byte.
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n  indented line\n-----END CERTIFICATE-----\n";
        let (st, v) =
            form(&s, Method::POST, &base, root, &[("key", "TLS_CERT"), ("value", pem), ("variable_type", "file")]);
        assert_eq!(st, 201, "{v}");
        let (st, v) = get(&s, &format!("{base}/TLS_CERT"), root);
        assert_eq!(st, 200);
        assert_eq!((v["variable_type"].as_str(), v["value"].as_str()), (Some("file"), Some(pem)));

        // List: by id, paginated with GitLab's headers.
        let (st, all) = get(&s, &base, root);
        assert_eq!(st, 200);
        let names: Vec<String> = keys(&all).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["DEPLOY_TOKEN", "API_SECRET", "TLS_CERT"]);
        let r = s.get(&format!("{by_path}?per_page=2&page=2"), root);
        assert_eq!(
            (r.headers()["x-total"].to_str().ok(), r.headers()["x-total-pages"].to_str().ok()),
            (Some("3"), Some("2"))
        );
        assert_eq!(keys(&r.json().expect("json")), [("TLS_CERT".to_string(), "*".to_string())]);

        // Update: the given fields change, the others stay.
        let (st, v) = form(
            &s,
            Method::PUT,
            &format!("{base}/DEPLOY_TOKEN"),
            root,
            &[("value", "new value"), ("protected", "false"), ("description", "rotated")],
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!((v["value"].as_str(), v["protected"].as_bool()), (Some("new value"), Some(false)));
        assert_eq!((v["description"].as_str(), v["variable_type"].as_str()), (Some("rotated"), Some("env_var")));
        let (_, v) =
            send_json(&s, Method::PUT, &format!("{by_path}/TLS_CERT"), root, json!({"variable_type": "env_var"}));
        assert_eq!((v["variable_type"].as_str(), v["value"].as_str()), (Some("env_var"), Some(pem)));
        // Masking a value that cannot be masked fails, and changes nothing.
        let (st, v) = form(&s, Method::PUT, &format!("{base}/DEPLOY_TOKEN"), root, &[("masked", "true")]);
        assert_eq!(st, 400, "{v}");
        assert!(field_error(&v, "value").contains("Base64"), "{v}");
        let (st, v) = form(&s, Method::PUT, &format!("{base}/API_SECRET"), root, &[("value", "short")]);
        assert_eq!(st, 400, "{v}");
        assert!(field_error(&v, "value").contains("at least 8 characters"), "{v}");
        assert_eq!(get(&s, &format!("{base}/API_SECRET"), root).1["value"], "c2VjcmV0LXZhbHVl==");

        // Validation on create, each naming its field; nothing is created.
        let long_key = "K".repeat(256);
        let bad = [
            (vec![("key", "BAD-KEY"), ("value", "v")], "key", "can contain only letters, digits and '_'."),
            (vec![("key", "has space"), ("value", "v")], "key", "can contain only letters, digits and '_'."),
            (vec![("key", &long_key), ("value", "v")], "key", "is too long (maximum is 255 characters)"),
            (vec![("key", "M1"), ("value", "short"), ("masked", "true")], "value", "at least 8 characters"),
            (vec![("key", "M2"), ("value", "line-one\nline-two"), ("masked", "true")], "value", "single line"),
            (vec![("key", "M3"), ("value", "not base64 at all!"), ("masked", "true")], "value", "Base64 alphabet"),
            (vec![("key", "T1"), ("value", "v"), ("variable_type", "secret")], "variable_type", "env_var or file"),
        ];
        for (fields, field, want) in bad {
            let (st, v) = form(&s, Method::POST, &base, root, &fields);
            assert_eq!(st, 400, "{fields:?} → {v}");
            assert!(field_error(&v, field).contains(want), "{fields:?} → {v}");
        }
        let (st, v) = form(&s, Method::POST, &base, root, &[("value", "v")]);
        assert_eq!((st, v["error"].as_str()), (400, Some("key is missing")));
        let (st, v) = form(&s, Method::POST, &base, root, &[("key", "NO_VALUE")]);
        assert_eq!((st, v["error"].as_str()), (400, Some("value is missing")));
        assert_eq!(s.get(&base, root).headers()["x-total"], "3");

        // A key is unique per scope: the same key again is GitLab's 400.
        let (st, v) = form(&s, Method::POST, &base, root, &[("key", "DEPLOY_TOKEN"), ("value", "again")]);
        assert_eq!(st, 400, "{v}");
        assert_eq!(field_error(&v, "key"), "(DEPLOY_TOKEN) has already been taken");

        // The same key in distinct environment scopes: addressed with filter[environment_scope].
        for (scope, value) in [("production", "prod-db"), ("review/*", "review-db")] {
            let (st, v) = form(
                &s,
                Method::POST,
                &base,
                root,
                &[("key", "DB_URL"), ("value", value), ("environment_scope", scope)],
            );
            assert_eq!((st, v["environment_scope"].as_str()), (201, Some(scope)), "{v}");
        }
        let (st, v) = get(&s, &format!("{base}/DB_URL"), root);
        assert_eq!(st, 409, "ambiguous without a filter: {v}");
        let (st, v) = get(&s, &format!("{base}/DB_URL?filter%5Benvironment_scope%5D=production"), root);
        assert_eq!((st, v["value"].as_str()), (200, Some("prod-db")), "{v}");
        let (st, v) = get(&s, &format!("{base}/DB_URL?filter[environment_scope]=review/*"), root);
        assert_eq!((st, v["value"].as_str()), (200, Some("review-db")), "{v}");
        let (st, _) = get(&s, &format!("{base}/DB_URL?filter[environment_scope]=staging"), root);
        assert_eq!(st, 404);
        // Update one scope (the filter as a JSON hash); the other is untouched.
        let (st, v) = send_json(
            &s,
            Method::PUT,
            &format!("{base}/DB_URL"),
            root,
            json!({"value": "review-db-2", "filter": {"environment_scope": "review/*"}}),
        );
        assert_eq!((st, v["value"].as_str()), (200, Some("review-db-2")), "{v}");
        let prod = get(&s, &format!("{base}/DB_URL?filter[environment_scope]=production"), root).1;
        assert_eq!(prod["value"], "prod-db");
        // Moving it onto a taken scope is the duplicate error.
        let (st, v) = form(
            &s,
            Method::PUT,
            &format!("{base}/DB_URL?filter[environment_scope]=review/*"),
            root,
            &[("environment_scope", "production")],
        );
        assert_eq!(st, 400, "{v}");
        assert_eq!(field_error(&v, "key"), "(DB_URL) has already been taken");
        // Deleting one scope leaves the key unambiguous.
        let (st, _) = delete(&s, &format!("{base}/DB_URL?filter[environment_scope]=production"), root);
        assert_eq!(st, 204);
        let (st, v) = get(&s, &format!("{base}/DB_URL"), root);
        assert_eq!((st, v["environment_scope"].as_str()), (200, Some("review/*")), "{v}");

        // Delete; then it is GitLab's 404.
        let (st, _) = delete(&s, &format!("{by_path}/DEPLOY_TOKEN"), root);
        assert_eq!(st, 204);
        let (st, v) = get(&s, &format!("{base}/DEPLOY_TOKEN"), root);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Variable Not Found")));
        let (st, v) = delete(&s, &format!("{base}/DEPLOY_TOKEN"), root);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Variable Not Found")));
        let (st, v) = form(&s, Method::PUT, &format!("{base}/DEPLOY_TOKEN"), root, &[("value", "x")]);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Variable Not Found")));
        let (st, v) = get(&s, "/projects/team%2Fnope/variables", root);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Project Not Found")));
        let names: Vec<(String, String)> = keys(&get(&s, &base, root).1);
        assert_eq!(
            names,
            [("API_SECRET".into(), "*".into()), ("TLS_CERT".into(), "*".into()), ("DB_URL".into(), "review/*".into())]
        );
    }
}

#[test]
fn group_variables_and_who_may_touch_them() {
    for b in backends() {
        let s = Server::start_on(b);
        let root = s.root_token.as_str();
        let (alice, alice_t) = s.user("alice", "api");
        let (dev, dev_t) = s.user("dev", "api");
        let (_, outsider_t) = s.user("outsider", "api");
        let g = s.post("/groups", root, &[("name", "Ops"), ("path", "ops")]);
        let gid = g["id"].to_string();
        s.post(&format!("/groups/{gid}/members"), root, &[("user_id", &alice.to_string()), ("access_level", "40")]);
        s.post(&format!("/groups/{gid}/members"), root, &[("user_id", &dev.to_string()), ("access_level", "30")]);
        s.post("/projects", root, &[("name", "svc"), ("namespace_id", &gid)]);
        let group_vars = format!("/groups/{gid}/variables");

        // A group maintainer manages the group's variables, by id or by path.
        let (st, v) = form(
            &s,
            Method::POST,
            &group_vars,
            &alice_t,
            &[("key", "REGISTRY_PASSWORD"), ("value", "hunter2-hunter2"), ("masked", "true"), ("protected", "true")],
        );
        assert_eq!(st, 201, "{b:?}: {v}");
        assert_eq!(
            v,
            json!({
                "variable_type": "env_var", "key": "REGISTRY_PASSWORD", "value": "hunter2-hunter2",
                "protected": true, "masked": true, "hidden": false, "raw": false, "environment_scope": "*",
                "description": null,
            })
        );
        let (st, _) = form(
            &s,
            Method::POST,
            "/groups/ops/variables",
            &alice_t,
            &[("key", "REGISTRY_PASSWORD"), ("value", "staging-pass"), ("environment_scope", "staging")],
        );
        assert_eq!(st, 201);
        let (st, v) = form(
            &s,
            Method::POST,
            &group_vars,
            &alice_t,
            &[("key", "CONFIG"), ("value", "a=1\nb=2\n"), ("variable_type", "file")],
        );
        assert_eq!((st, v["variable_type"].as_str()), (201, Some("file")), "{v}");
        let (st, v) = form(&s, Method::POST, &group_vars, &alice_t, &[("key", "CONFIG"), ("value", "again")]);
        assert_eq!(st, 400);
        assert_eq!(field_error(&v, "key"), "(CONFIG) has already been taken");
        let (st, v) = form(&s, Method::POST, &group_vars, &alice_t, &[("key", "bad.key"), ("value", "x")]);
        assert_eq!(st, 400);
        assert!(field_error(&v, "key").contains("letters, digits"), "{v}");
        let (st, list) = get(&s, "/groups/ops/variables", &alice_t);
        assert_eq!(st, 200);
        assert_eq!(
            keys(&list),
            [
                ("REGISTRY_PASSWORD".into(), "*".into()),
                ("REGISTRY_PASSWORD".into(), "staging".into()),
                ("CONFIG".into(), "*".into())
            ]
        );
        let (st, v) = get(&s, &format!("{group_vars}/CONFIG"), &alice_t);
        assert_eq!((st, v["value"].as_str()), (200, Some("a=1\nb=2\n")));
        let (st, v) = get(&s, &format!("{group_vars}/REGISTRY_PASSWORD?filter[environment_scope]=staging"), &alice_t);
        assert_eq!((st, v["value"].as_str()), (200, Some("staging-pass")));
        let (st, v) =
            form(&s, Method::PUT, &format!("{group_vars}/CONFIG"), &alice_t, &[("value", "a=2\n"), ("raw", "true")]);
        assert_eq!((st, v["value"].as_str(), v["raw"].as_bool()), (200, Some("a=2\n"), Some(true)), "{v}");
        // Group variables are not the project's, and the other way round.
        assert_eq!(get(&s, "/projects/ops%2Fsvc/variables", &alice_t).1, json!([]));
        let (st, _) =
            form(&s, Method::POST, "/projects/ops%2Fsvc/variables", &alice_t, &[("key", "ONLY_SVC"), ("value", "1")]);
        assert_eq!(st, 201, "maintainer through the group manages the project's variables");
        assert_eq!(get(&s, &format!("{group_vars}/ONLY_SVC"), &alice_t).0, 404);

        // A developer sees the group and project but not their variables: 403 everywhere.
        for path in [group_vars.clone(), format!("{group_vars}/CONFIG"), "/projects/ops%2Fsvc/variables".into()] {
            assert_eq!(get(&s, &path, &dev_t).0, 403, "GET {path}");
        }
        assert_eq!(form(&s, Method::POST, &group_vars, &dev_t, &[("key", "X"), ("value", "1")]).0, 403);
        assert_eq!(form(&s, Method::PUT, &format!("{group_vars}/CONFIG"), &dev_t, &[("value", "1")]).0, 403);
        assert_eq!(delete(&s, &format!("{group_vars}/CONFIG"), &dev_t).0, 403);
        assert_eq!(
            form(&s, Method::POST, "/projects/ops%2Fsvc/variables", &dev_t, &[("key", "X"), ("value", "1")]).0,
            403
        );
        // Someone outside a private group or project does not learn that it exists.
        let (st, v) = get(&s, "/projects/ops%2Fsvc/variables", &outsider_t);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Project Not Found")));
        let (st, v) = get(&s, &group_vars, &outsider_t);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Group Not Found")));
        assert_eq!(delete(&s, "/projects/ops%2Fsvc/variables/ONLY_SVC", &outsider_t).0, 404);
        // Anonymous callers must sign in; a read-only token reads but does not write.
        assert_eq!(get(&s, &group_vars, "").0, 401);
        let ro = s.create_token("alice", "ro", "read_api");
        assert_eq!(get(&s, &group_vars, &ro).0, 200);
        let (st, v) = form(&s, Method::POST, &group_vars, &ro, &[("key", "X"), ("value", "1")]);
        assert_eq!((st, v["error"].as_str()), (403, Some("insufficient_scope")));
        // Nothing the refused callers sent was stored.
        assert_eq!(s.get(&group_vars, root).headers()["x-total"], "3");

        // Delete: by scope, then the rest.
        assert_eq!(delete(&s, &format!("{group_vars}/REGISTRY_PASSWORD"), &alice_t).0, 409, "ambiguous");
        assert_eq!(delete(&s, &format!("{group_vars}/REGISTRY_PASSWORD?filter[environment_scope]=*"), &alice_t).0, 204);
        assert_eq!(delete(&s, &format!("{group_vars}/REGISTRY_PASSWORD"), &alice_t).0, 204);
        assert_eq!(delete(&s, &format!("{group_vars}/CONFIG"), root).0, 204, "administrators may too");
        let (st, v) = get(&s, &format!("{group_vars}/CONFIG"), &alice_t);
        assert_eq!((st, v["message"].as_str()), (404, Some("404 Variable Not Found")));
        assert_eq!(get(&s, &group_vars, &alice_t).1, json!([]));
    }
}
