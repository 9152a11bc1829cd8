"""Pure protocol logic: no I/O, no aiohttp, no asyncpg, so it is tested without a server."""
