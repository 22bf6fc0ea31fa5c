"""The Redis database a test run may use (and empty): one per backend run, so the SQLite and
PostgreSQL suites can run side by side (scripts/test gives each its own)."""

from __future__ import annotations

import os

TEST_REDIS_URL = os.environ.get("KEYTURN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
