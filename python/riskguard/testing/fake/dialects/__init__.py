"""Each venue's REST and WebSocket subset over the fake exchange, one module per venue."""
