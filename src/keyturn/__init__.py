"""Keyturn: a self-hosted, passkey-first identity provider."""

__version__ = "0.1.0"
