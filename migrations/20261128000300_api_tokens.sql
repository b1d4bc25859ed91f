-- API bearer tokens. Only the SHA-256 of a token is stored: a leaked table grants nothing, and a
-- request is authenticated by one indexed lookup of its token's hash.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,                       -- who or what holds it, for `token list`
    role         text NOT NULL CHECK (role IN ('bureau', 'park')),
    -- the one park a park token may read; NULL for bureau tokens
    park_id      text REFERENCES parks (id) ON UPDATE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE,
    -- the first characters of the token, so an operator can tell tokens apart without the secret
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,                         -- a revoked token is kept for the record
    CHECK ((role = 'park') = (park_id IS NOT NULL))
);
