"""Custom transformers: upstream-style JavaScript run in a V8 isolate, in a process of its own."""
