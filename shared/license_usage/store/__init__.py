"""All DynamoDB and S3 access. The store keeps and fetches; it decides no business rule."""
