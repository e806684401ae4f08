"""The gateway client: shard connections, the identify queue, session managers, the WebSocket transport,
the loop watchdog and the signal waiter. Import the submodules; this package imports nothing eagerly."""
