"""Post-login hooks: signed calls to operators' URLs that may deny a sign-in or add claims."""
