"""The product's rules: pure Python, no AWS, no HTTP."""
