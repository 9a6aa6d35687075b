"""Cross-cutting helpers shared by every domain package (errors, auth, HTTP edge, working hours)."""
