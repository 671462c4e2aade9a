"""OIBus connectors: South sources and North targets, one package per type."""
