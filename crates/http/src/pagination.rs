//! GitLab offset pagination: `page`/`per_page` in, `X-Total`, `X-Total-Pages`, `X-Per-Page`,
//! `X-Page`, `X-Next-Page`, `X-Prev-Page` and `Link` out.

use crate::error::{ApiError, bad_param};
use crate::params::Params;
use autogit_app::store::Page;
use axum::http::{HeaderMap, HeaderValue, Uri};

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
}

impl Paging {
    pub fn from_params(p: &Params) -> Result<Self, ApiError> {
        let page = p.i64("page")?.unwrap_or(1);
        let per_page = p.i64("per_page")?.unwrap_or(DEFAULT_PER_PAGE);
        if page < 1 {
            return Err(bad_param("page", "must be at least 1"));
        }
        if per_page < 1 {
            return Err(bad_param("per_page", "must be at least 1"));
        }
        // GitLab silently caps per_page at 100 rather than failing.
        let per_page = per_page.min(MAX_PER_PAGE);
        Ok(Paging { page, per_page })
    }

    pub fn store_page(self) -> Page {
        Page { offset: (self.page - 1).saturating_mul(self.per_page), limit: self.per_page }
    }

    /// The pagination headers for a result with `total` items, with links built from `base` and
    /// the request's own query (other parameters are kept).
    pub fn headers(self, total: i64, base: &str, uri: &Uri) -> HeaderMap {
        let total_pages = ((total + self.per_page - 1) / self.per_page).max(1);
        let mut h = HeaderMap::new();
        let mut put = |k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        put("x-total", total.to_string());
        put("x-total-pages", total_pages.to_string());
        put("x-per-page", self.per_page.to_string());
        put("x-page", self.page.to_string());
        put("x-next-page", if self.page < total_pages { (self.page + 1).to_string() } else { String::new() });
        put("x-prev-page", if self.page > 1 { (self.page - 1).to_string() } else { String::new() });
        let link_to = |page: i64| {
            let mut query: Vec<String> = uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty() && !kv.starts_with("page=") && !kv.starts_with("per_page="))
                .map(str::to_string)
                .collect();
            query.push(format!("page={page}"));
            query.push(format!("per_page={}", self.per_page));
            format!("{base}{}?{}", uri.path(), query.join("&"))
        };
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link_to(self.page - 1)));
        }
        if self.page < total_pages {
            links.push(format!("<{}>; rel=\"next\"", link_to(self.page + 1)));
        }
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(total_pages)));
        put("link", links.join(", "));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_for_middle_page() {
        let p = Paging { page: 2, per_page: 10 };
        let uri: Uri = "/api/v4/projects?search=x&page=2".parse().expect("uri");
        let h = p.headers(35, "http://h", &uri);
        assert_eq!(h["x-total"], "35");
        assert_eq!(h["x-total-pages"], "4");
        assert_eq!(h["x-next-page"], "3");
        assert_eq!(h["x-prev-page"], "1");
        let link = h["link"].to_str().expect("ascii");
        assert!(link.contains("<http://h/api/v4/projects?search=x&page=3&per_page=10>; rel=\"next\""), "{link}");
        assert!(link.contains("page=4&per_page=10>; rel=\"last\""), "{link}");
        assert_eq!(p.store_page(), Page { offset: 10, limit: 10 });
    }

    #[test]
    fn last_page_has_no_next() {
        let h = Paging { page: 1, per_page: 20 }.headers(0, "", &"/x".parse().expect("uri"));
        assert_eq!(h["x-next-page"], "");
        assert_eq!(h["x-total-pages"], "1");
    }
}
