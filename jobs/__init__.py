"""Scheduled jobs: plain functions; `jobs.schedule` is the only module that knows APScheduler."""
