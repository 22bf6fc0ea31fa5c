"""WebAuthn relying-party logic: pure functions over the `webauthn` library, no I/O."""
