"""OIBus engine: configuration, API, supervision of workers, routing."""
