-- API tokens: an optional expiry, and when each token was last used.
--
-- expires_at: a token past it is refused (401) like a revoked one; NULL never expires. Set by
-- `greenmon token create --expires 90d|12h|<RFC 3339>`.
-- last_used_at: when the token last authenticated a request, so an operator can find tokens
-- nobody uses any more (`greenmon token list`). Written at most once a minute per token, so a
-- busy dashboard does not turn every read into a write.
ALTER TABLE api_tokens
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;
