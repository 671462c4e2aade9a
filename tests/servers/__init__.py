"""Real protocol servers (in-process or child processes) that tests talk to."""
