"""Scan modes: 6-field cron expressions (seconds first) and the timers that fire them."""
