"""Operator actions shared by the CLI and (later) the management API."""
