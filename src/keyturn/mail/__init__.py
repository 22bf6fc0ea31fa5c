"""Email: messages rendered from templates, queued in the outbox with what caused them, and
sent in the background by a transport (SMTP, or .eml files for development)."""
