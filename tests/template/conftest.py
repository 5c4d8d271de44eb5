"""The decoded (``sam``) and transformed (``cfn``) template fixtures, for every module of this folder."""

from tests.template.test_template import cfn, sam

__all__ = ["cfn", "sam"]
