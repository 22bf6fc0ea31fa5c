"""Plain data: what Keyturn knows about tenants, users, passkeys, flows and sessions."""
