"""Reports: the figures of the console dashboard, computed from the domain tables (no HTTP here)."""
