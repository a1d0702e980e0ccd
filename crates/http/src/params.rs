//! Request parameters as GitLab takes them: from the query string, a JSON body or a form body,
//! merged into one map (body wins). Values are read leniently (numbers may arrive as strings from
//! forms) but strictly typed: a value of the wrong shape is a `400` naming the parameter.

use crate::error::{ApiError, bad_param};
use crate::state::AppState;
use autogit_core::ci::ParseError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};
use std::str::FromStr;

/// Largest API request body accepted.
const MAX_API_BODY: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Params(pub Map<String, Value>);

impl FromRequest<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let mut map = Map::new();
        if let Some(q) = req.uri().query() {
            merge_form(&mut map, q.as_bytes());
        }
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        let body = Bytes::from_request(req, state).await.map_err(|_| bad_param("body", "could not be read"))?;
        if body.len() > MAX_API_BODY {
            return Err(bad_param("body", format!("is too large (maximum is {MAX_API_BODY} bytes)")));
        }
        if json && !body.is_empty() {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(o)) => map.extend(o),
                Ok(_) => return Err(bad_param("body", "must be a JSON object")),
                Err(e) => return Err(bad_param("body", format!("is not valid JSON: {e}"))),
            }
        } else if !body.is_empty() {
            merge_form(&mut map, &body);
        }
        Ok(Params(map))
    }
}

/// Form decoding; `key[]=a&key[]=b` becomes an array, as Rails does.
fn merge_form(map: &mut Map<String, Value>, raw: &[u8]) {
    for (k, v) in form_urlencoded_pairs(raw) {
        if let Some(base) = k.strip_suffix("[]") {
            let entry = map.entry(base.to_string()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = entry {
                a.push(Value::String(v));
            }
        } else {
            map.insert(k, Value::String(v));
        }
    }
}

fn form_urlencoded_pairs(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = decode(it.next().unwrap_or_default());
            let v = decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn decode(s: &[u8]) -> String {
    let plus: Vec<u8> = s.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    percent_encoding::percent_decode(&plus).decode_utf8_lossy().into_owned()
}

impl Params {
    pub fn str(&self, key: &'static str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(bad_param(key, "must be a string")),
        }
    }

    pub fn required(&self, key: &'static str) -> Result<String, ApiError> {
        self.str(key)?.filter(|s| !s.is_empty()).ok_or(ApiError(autogit_app::AppError::Missing(key)))
    }

    pub fn i64(&self, key: &'static str) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad_param(key, "must be an integer")),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad_param(key, "must be an integer")),
            Some(_) => Err(bad_param(key, "must be an integer")),
        }
    }

    /// A number (`coverage`): JSON number or decimal text.
    pub fn f64(&self, key: &'static str) -> Result<Option<f64>, ApiError> {
        let n = match self.0.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        n.filter(|n| n.is_finite()).map(Some).ok_or_else(|| bad_param(key, "must be a number"))
    }

    /// An id parameter (`user_id`, `namespace_id`, …): an integer, typed as the record it names.
    pub fn id<T>(&self, key: &'static str, typed: fn(i64) -> T) -> Result<Option<T>, ApiError> {
        Ok(self.i64(key)?.map(typed))
    }

    pub fn bool(&self, key: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            // Python clients send `True`/`False`.
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" | "" => Ok(Some(false)),
                _ => Err(bad_param(key, "must be a boolean")),
            },
            Some(_) => Err(bad_param(key, "must be a boolean")),
        }
    }

    /// A list given as a JSON array, `key[]=` form entries, or one comma-separated string.
    pub fn list(&self, key: &'static str) -> Result<Vec<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => {
                Ok(s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
            }
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad_param(key, "must be a list of strings")))
                .collect(),
            Some(_) => Err(bad_param(key, "must be a list of strings")),
        }
    }

    /// One of a fixed set of spellings (a pipeline status…); empty is absent. An unknown one is a
    /// `400` naming it and the allowed ones.
    pub fn word<T: FromStr<Err = ParseError>>(&self, key: &'static str) -> Result<Option<T>, ApiError> {
        self.str(key)?.filter(|s| !s.is_empty()).map(|s| parse_word(key, &s)).transpose()
    }

    /// [`Self::list`] of such spellings (job statuses…); empty entries are ignored.
    pub fn words<T: FromStr<Err = ParseError>>(&self, key: &'static str) -> Result<Vec<T>, ApiError> {
        self.list(key)?.iter().filter(|s| !s.is_empty()).map(|s| parse_word(key, s)).collect()
    }
}

fn parse_word<T: FromStr<Err = ParseError>>(key: &'static str, text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: ParseError| bad_param(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_arrays_and_escapes() {
        let mut m = Map::new();
        merge_form(&mut m, b"name=My+Project%21&scopes[]=api&scopes[]=read_api&n=5");
        let p = Params(m);
        assert_eq!(p.str("name").expect("ok"), Some("My Project!".into()));
        assert_eq!(p.list("scopes").expect("ok"), vec!["api", "read_api"]);
        assert_eq!(p.i64("n").expect("ok"), Some(5));
        assert!(p.bool("name").is_err());
    }
}
