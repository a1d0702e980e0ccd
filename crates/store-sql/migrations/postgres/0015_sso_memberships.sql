-- Group memberships that single sign-on made (group mappings): removed again when the user's
-- groups no longer give them; memberships granted by hand are not listed here and never touched.
CREATE TABLE sso_memberships (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, namespace_id)
);
