"""The OIBus launcher: keeps the engine alive (stdlib + psutil only; never imports the engine)."""
