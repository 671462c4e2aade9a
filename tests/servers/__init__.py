"""Real or fake peers the tests talk to (protocol servers, fakes of remote services)."""
