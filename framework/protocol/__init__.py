"""Sans-IO protocol logic: pure functions and state machines, no sockets, no anyio, no httpx."""
