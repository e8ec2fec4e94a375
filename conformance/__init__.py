"""asgi-conformance: parametrised suites that judge ASGI servers over real sockets."""
