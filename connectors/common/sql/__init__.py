"""Shared machinery of the SQL South family: settings, placeholders, date-time rules, CSV output."""
