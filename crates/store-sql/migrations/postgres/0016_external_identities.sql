-- OpenID Connect sign-in: which account a provider's subject signs in as, and the round trips
-- to a provider in progress.

-- (issuer, subject) is the identity; the email address is not part of the key.
CREATE TABLE external_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX external_identities_user_provider_key ON external_identities (user_id, provider);

-- A browser sent to a provider, until its callback (single use; only the digest of the cookie's
-- secret is kept). Rows hold short-lived, single-use values: state, nonce and PKCE verifier.
CREATE TABLE sign_in_attempts (
    digest        TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_attempts_expires_idx ON sign_in_attempts (expires_at);

-- External users (GitLab's): they see public projects and those they are members of, never
-- internal ones, and create no top-level group and no personal project.
ALTER TABLE users ADD COLUMN external BOOLEAN NOT NULL DEFAULT FALSE;
