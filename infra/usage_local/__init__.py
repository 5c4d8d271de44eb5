"""The local stack (SPEC §9): AWS stand-ins, the template's resources, a local API Gateway that runs
the real Lambda handlers, the template's schedules, bearer tokens, and the ``usage-local`` CLI."""
