"""The HTTP edge every transport shares (hosted pages, OIDC endpoints, management API):
the request's `Context`, cookies and security headers, input checks, error shapes."""
