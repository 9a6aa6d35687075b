"""The operator console: server-rendered pages (Jinja2, Bootstrap Italia vendored by scripts/build_console.sh),
session cookie + CSRF, live refresh through the /api/v1/events stream. Handlers call the same services as the API."""
