"""One Powertools router per area of the API (SPEC §5)."""
