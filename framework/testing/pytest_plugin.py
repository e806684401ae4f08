"""pytest plugin (entry point ``qqbot``): fixtures for testing bots against the emulator."""
