"""I/O adapters: credentials and the OpenAPI client (httpx), websocket transport, gateway shards, webhook app."""
