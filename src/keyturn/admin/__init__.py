"""The operators' dashboard at /admin: a transport like web/, with its own templates."""
