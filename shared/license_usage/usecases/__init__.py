"""Use cases: what one request or schedule does, in domain terms, calling the store."""
