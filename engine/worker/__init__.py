"""The worker process: runs one connector and speaks IPC with the engine over stdin/stdout."""
