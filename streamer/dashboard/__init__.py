"""The operator dashboard: access control, the HTTP/SSE/WebSocket server, approvals and config editing."""
