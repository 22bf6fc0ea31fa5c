"""The management API: Auth0's /api/v2 shapes over Keyturn's services, so Auth0 SDKs work."""
