//! The OpenID Connect relying party behind the application's [`IdentityProvider`] port:
//! discovery (cached for an hour, fetched again when a token is signed with a key it lacks),
//! the authorization URL with PKCE (S256) and a nonce, the token request, ID token verification
//! (signature, issuer, audience, expiry, nonce: `openidconnect`), and the configured username and
//! groups claims, read from the verified ID token or, when it lacks the groups, from userinfo.
//!
//! # Who is trusted
//! The issuer configured by the administrator, over HTTPS (or loopback HTTP), for what it signs.
//! Its HTTP answers are read with a timeout and a size cap, redirects are not followed, and
//! nothing from the browser reaches this crate except the authorization code.

mod claims;

use async_trait::async_trait;
use autogit_app::{IdentityProvider, OidcClaims, OidcRequest, ProviderError};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long discovered metadata (endpoints and signing keys) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The longest answer read from the provider.
const MAX_BODY: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a provider's client needs (the server fills it from `[[auth.oidc]]`).
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Send the secret as form fields instead of HTTP Basic.
    pub secret_in_body: bool,
    pub scopes: Vec<String>,
    /// `<external_url>/users/auth/<name>/callback`.
    pub redirect_uri: String,
    pub username_claim: String,
    pub groups_claim: String,
    /// PEM certificates to trust instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
}

pub struct OidcClient {
    settings: ProviderSettings,
    /// The authorization endpoint's origin once discovered (the issuer's before).
    origin: std::sync::RwLock<String>,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(Arc<CoreProviderMetadata>, Instant)>>,
}

impl OidcClient {
    pub fn new(settings: ProviderSettings) -> Result<OidcClient, String> {
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| format!("issuer: {e}"))?;
        let redirect = RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| format!("redirect URI: {e}"))?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT);
        if let Some(pem) = &settings.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("ca_file: {e}"))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        let origin = std::sync::RwLock::new(issuer.url().origin().ascii_serialization());
        Ok(OidcClient { settings, origin, issuer, redirect, http, metadata: Mutex::new(None) })
    }

    /// Discovers the provider now (a check at start-up); the metadata is kept.
    pub async fn discover(&self) -> Result<(), String> {
        self.metadata(true).await.map(|_| ()).map_err(|e| match e {
            ProviderError::Refused(m) | ProviderError::Unavailable(m) => m,
        })
    }

    /// The provider's metadata: cached, or discovered now (`fresh`: always discovered now).
    async fn metadata(&self, fresh: bool) -> Result<Arc<CoreProviderMetadata>, ProviderError> {
        let mut slot = self.metadata.lock().await;
        if !fresh
            && let Some((m, at)) = slot.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let http = self.http_client();
        let m = CoreProviderMetadata::discover_async(self.issuer.clone(), &http).await.map_err(|e| {
            ProviderError::Unavailable(format!("discovery at {}: {}", self.issuer.as_str(), error_chain(&e)))
        })?;
        let m = Arc::new(m);
        if let Ok(mut origin) = self.origin.write() {
            *origin = m.authorization_endpoint().url().origin().ascii_serialization();
        }
        *slot = Some((m.clone(), Instant::now()));
        Ok(m)
    }

    fn client(
        &self,
        m: &CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        let auth = if self.settings.secret_in_body { AuthType::RequestBody } else { AuthType::BasicAuth };
        CoreClient::from_provider_metadata(
            m.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone())
        .set_auth_type(auth)
    }

    /// `openidconnect`'s HTTP client: reqwest, answers capped at [`MAX_BODY`].
    fn http_client(
        &self,
    ) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>> + use<>
    {
        let http = self.http.clone();
        move |req: HttpRequest| {
            let http = http.clone();
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let mut resp = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| HttpError(error_chain(&e)))?;
                let mut b = openidconnect::http::Response::builder().status(resp.status());
                for (k, v) in resp.headers() {
                    b = b.header(k, v);
                }
                let mut out = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError(error_chain(&e)))? {
                    if out.len() + chunk.len() > MAX_BODY {
                        return Err(HttpError(format!("the answer is over {MAX_BODY} bytes")));
                    }
                    out.extend_from_slice(&chunk);
                }
                b.body(out).map_err(|e| HttpError(e.to_string()))
            })
        }
    }
}

/// An HTTP failure talking to the provider.
#[derive(Debug)]
pub struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// An error and its sources in one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[async_trait]
impl IdentityProvider for OidcClient {
    fn authorization_origin(&self) -> String {
        self.origin.read().map(|o| o.clone()).unwrap_or_default()
    }

    async fn authorization_url(&self, request: &OidcRequest) -> Result<String, ProviderError> {
        let m = self.metadata(false).await?;
        let client = self.client(&m);
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(request.pkce_verifier.clone()));
        let (state, nonce) = (request.state.clone(), request.nonce.clone());
        let mut auth = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            auth = auth.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = auth.url();
        Ok(url.to_string())
    }

    async fn redeem(&self, code: &str, request: &OidcRequest) -> Result<OidcClaims, ProviderError> {
        let m = self.metadata(false).await?;
        let client = self.client(&m);
        let http = self.http_client();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| ProviderError::Unavailable(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(request.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| ProviderError::Refused(format!("the token request failed: {}", error_chain(&e))))?;
        let id_token =
            token.id_token().ok_or_else(|| ProviderError::Refused("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(request.nonce.clone());
        // The signing algorithms the provider advertises (openidconnect's default is RS256 alone;
        // many providers sign with ES256 or EdDSA). `none` is never accepted.
        let algs = |m: &CoreProviderMetadata| -> Vec<CoreJwsSigningAlgorithm> {
            let all = m.id_token_signing_alg_values_supported().iter();
            all.filter(|a| **a != CoreJwsSigningAlgorithm::None).cloned().collect()
        };
        let verified = match id_token.claims(&client.id_token_verifier().set_allowed_algs(algs(&m)), &nonce) {
            Ok(c) => c.clone(),
            // A key this server has not seen: the provider may have rotated its keys.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let m = self.metadata(true).await?;
                let client = self.client(&m);
                let verifier = client.id_token_verifier().set_allowed_algs(algs(&m));
                id_token.claims(&verifier, &nonce).map_err(refused_token)?.clone()
            }
            Err(e) => return Err(refused_token(e)),
        };
        let payload = claims::payload(&id_token.to_string())
            .map_err(|e| ProviderError::Refused(format!("the ID token's claims: {e}")))?;
        let mut out = claims::read(&verified, &payload, &self.settings.username_claim, &self.settings.groups_claim);
        if !payload.contains_key(&self.settings.groups_claim)
            && let Some(endpoint) = m.userinfo_endpoint()
        {
            let info = claims::userinfo(&self.http, endpoint.as_str(), token.access_token().secret(), MAX_BODY).await?;
            if info.get("sub").and_then(|s| s.as_str()) != Some(out.subject.as_str()) {
                return Err(ProviderError::Refused("userinfo is about another subject".into()));
            }
            out.groups = claims::groups(&info, &self.settings.groups_claim);
        }
        Ok(out)
    }
}

fn refused_token(e: ClaimsVerificationError) -> ProviderError {
    ProviderError::Refused(format!("the ID token was refused: {}", error_chain(&e)))
}
