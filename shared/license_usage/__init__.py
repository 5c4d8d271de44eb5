"""License & AI usage reporting: the code every Lambda function shares (shipped as a layer).

Layers, arrows pointing one way: ``api`` (HTTP models, routers, error mapping) → ``domain``
(the rules of SPEC §2 to §4, pure Python) and ``store`` (all DynamoDB/S3 access).
"""
