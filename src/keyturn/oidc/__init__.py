"""The OpenID Provider: discovery, keys, authorization, tokens, userinfo, logout."""
