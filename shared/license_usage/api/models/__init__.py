"""Pydantic request and response models (the API's contract, and its OpenAPI schema)."""
