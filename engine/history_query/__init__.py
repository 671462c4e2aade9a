"""Running history queries in the engine: their two workers, delivery between them, status and progress."""
