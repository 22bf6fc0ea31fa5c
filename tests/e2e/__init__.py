"""End-to-end tests: the real `keyturn serve` driven by Chromium through Playwright."""
