//! HTML answers of the browser routes: a small page layout, escaping, redirects and error pages.
//! Every page is `no-store`, unframeable and script-free by its headers.

use autogit_app::AppError;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A finished browser answer (boxed: it travels in `Err` of page helpers).
pub(crate) struct Page(pub Box<Response>);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The content security policy of every page, in two halves around where else forms may lead
/// (`form-action`; only the sign-in page adds identity providers there).
macro_rules! csp_head {
    () => {
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'self'"
    };
}
macro_rules! csp_tail {
    () => {
        "; frame-ancestors 'none'"
    };
}
const CSP: &str = concat!(csp_head!(), csp_tail!());

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

impl Page {
    /// A path that names no page (the same whoever asks).
    pub(crate) fn not_found() -> Page {
        Page::error(autogit_app::AppError::NotFound("Page"))
    }

    /// An HTML page in the site's layout: `body` is already escaped markup.
    pub(crate) fn html(status: StatusCode, title: &str, body: &str) -> Page {
        let ctx = minijinja::context! { title => title, body_html => body };
        Page::render(status, "message.html", ctx)
    }

    /// [`Page::html`] with the layout's account links (`chrome` of [`super::chrome`]).
    pub(crate) fn html_in(chrome: minijinja::Value, status: StatusCode, title: &str, body: &str) -> Page {
        let ctx = minijinja::context! { chrome => chrome, title => title, body_html => body };
        Page::render(status, "message.html", ctx)
    }

    /// Template `name` rendered with `ctx` (which carries the layout's `chrome`, see
    /// [`super::chrome`]); a template error is logged and answered `500`.
    pub(crate) fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Page {
        match super::ui::ui().render(name, ctx) {
            Ok(text) => Page::text_html(status, text),
            Err(e) => {
                tracing::error!(template = name, error = %e, "page rendering failed");
                Page::text_html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html>\n<title>Error</title><h1>500</h1><p>The page could not be rendered.</p>\n".into(),
                )
            }
        }
    }

    fn text_html(status: StatusCode, text: String) -> Page {
        let mut r = (status, text).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        Page(Box::new(r)).secured()
    }

    /// A `302 Found` to a path of this server.
    pub(crate) fn redirect(to: &str) -> Page {
        let mut r = StatusCode::FOUND.into_response();
        let location = HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/"));
        r.headers_mut().insert(header::LOCATION, location);
        Page(Box::new(r)).secured()
    }

    /// The page of an application error, in words for a person.
    pub(crate) fn error(e: AppError) -> Page {
        let (status, text) = match &e {
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found.")),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "Sign in to continue.".to_string()),
            AppError::Forbidden(m) => {
                (StatusCode::FORBIDDEN, m.clone().unwrap_or_else(|| "You are not allowed to do this.".to_string()))
            }
            AppError::SignInLocked(_) | AppError::PasswordChecksBusy(_) => {
                (StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            AppError::Unavailable(m) => (StatusCode::BAD_GATEWAY, m.clone()),
            AppError::Internal(m) => {
                tracing::error!(error = %m, "browser request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.".to_string())
            }
            other => (StatusCode::BAD_REQUEST, other.to_string()),
        };
        Page::html(status, "Error", &format!("<h1>{}</h1>\n<p>{}</p>", status.as_u16(), esc(&text)))
    }

    /// `422`: the CSRF check failed (Rails' words, as GitLab answers).
    pub(crate) fn csrf_refused() -> Page {
        Page::html(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Request refused",
            "<h1>422</h1>\n<p>Can't verify CSRF token authenticity. Reload the page and try again.</p>",
        )
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Page {
        self.0.headers_mut().append(name, value);
        self
    }

    fn secured(mut self) -> Page {
        for (k, v) in SECURITY_HEADERS {
            self.0.headers_mut().insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        self.0.headers_mut().insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CSP));
        self
    }

    /// Lets the page's forms lead to these origins as well as its own (an identity provider the
    /// sign-in form redirects to). An origin that is not a plain `scheme://host[:port]` is left
    /// out.
    pub(crate) fn with_form_targets(mut self, origins: &[String]) -> Page {
        let plain = |o: &&String| {
            o.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
            })
        };
        let mut seen = std::collections::HashSet::new();
        let kept: Vec<&String> = origins.iter().filter(plain).filter(|o| seen.insert(*o)).collect();
        if kept.is_empty() {
            return self;
        }
        let extra: String = kept.iter().map(|o| format!(" {o}")).collect();
        let csp = format!(concat!(csp_head!(), "{}", csp_tail!()), extra);
        if let Ok(v) = HeaderValue::from_str(&csp) {
            self.0.headers_mut().insert(HeaderName::from_static("content-security-policy"), v);
        }
        self
    }
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    autogit_render::escape::html(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let p = Page::html(StatusCode::OK, "<t>", "<p>x</p>").0;
        assert_eq!(p.headers()["cache-control"], "no-store");
        assert_eq!(p.headers()["x-frame-options"], "DENY");
        assert!(p.headers()["content-security-policy"].to_str().expect("text").contains("frame-ancestors 'none'"));
    }

    #[test]
    fn form_targets_extend_form_action_only_with_plain_origins() {
        let csp = |p: Page| p.0.headers()["content-security-policy"].to_str().expect("text").to_string();
        let plain = csp(Page::html(StatusCode::OK, "t", ""));
        assert_eq!(plain, concat!(csp_head!(), csp_tail!()));
        assert!(plain.contains("script-src 'self';") && !plain.contains("unsafe"), "{plain}");
        let origins = [
            "https://sso.example.test".to_string(),
            "javascript:alert(1)".into(),
            "https://sso.example.test".into(),
            "http://[::1]:9400".into(),
            "https://x.test; script-src *".into(),
        ];
        let with = csp(Page::html(StatusCode::OK, "t", "").with_form_targets(&origins));
        assert_eq!(with, concat!(csp_head!(), " https://sso.example.test http://[::1]:9400", csp_tail!()),);
        assert_eq!(csp(Page::html(StatusCode::OK, "t", "").with_form_targets(&[])), plain);
    }
}
