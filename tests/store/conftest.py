"""Store-level tests: the store's own functions, in this process, against a DynamoDB Local of
their own (tables created from template.yaml's definitions), with no gateway in between."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from usage_local.dynamodb_local import LocalDynamoDB, lambda_environment, local_dynamodb


def _models() -> list[type]:
    from pynamodb.models import Model

    from license_usage.store import (  # noqa: F401  (every model class of the store, registered)
        api_keys,
        audit,
        dirty_days,
        events,
        exports,
        insights,
        notifications,
        orgs,
        plan_users,
        plans,
        quarantine,
        rate_limits,
        rollups,
        seat_swings,
        subscriptions,
        users,
    )

    found: list[type] = []
    pending: list[type] = [Model]
    while pending:
        subclass: type
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[LocalDynamoDB]:
    """Point the store at a fresh DynamoDB Local: the table names and endpoint the template and
    the local stack give the functions (set again on the models, should an earlier test of this
    process have imported them with other settings)."""
    with local_dynamodb("store-tests") as local:
        environment = lambda_environment(local.port)
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        from license_usage.store.tables import EventRecord, LicensingItem, transaction_connection

        EventRecord.Meta.table_name = environment["EVENTS_TABLE"]
        LicensingItem.Meta.table_name = environment["LICENSING_TABLE"]
        for model in _models():
            model.Meta.host = local.endpoint  # type: ignore[attr-defined]
            model._connection = None  # type: ignore[attr-defined]
        transaction_connection.cache_clear()
        yield local
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
