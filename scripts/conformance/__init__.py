"""WebSocket conformance: Autobahn|Testsuite against both transports (`make conformance`)."""
