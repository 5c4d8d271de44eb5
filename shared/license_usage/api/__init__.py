"""The HTTP edge: pydantic request/response models, one Powertools router per area, error mapping."""
