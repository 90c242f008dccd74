"""Shared kernel: config, database, API plumbing, jobs and the web shell; knows no feature."""
