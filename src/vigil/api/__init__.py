"""The HTTP and WebSocket edge: authentication, one router per resource, live streams."""
