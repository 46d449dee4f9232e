"""Schemathesis against the committed OpenAPI documents, served by the running platform.

Requests generated from each service's document, valid and deliberately invalid, never get a
5xx, and every answer is one the document describes: its status code, its content type
(``application/problem+json`` for errors), its schema, the ``Allow`` header of a 405.

The cases are the same on every run (``deterministic``); ``API_FUZZ_EXAMPLES`` raises the number
per operation (default 30) and ``API_FUZZ_RANDOM=1`` draws new ones, for a longer hunt.

Left out, on purpose:
- a request the schemas allow may still be refused by a rule that spans fields (``check_out``
  after ``check_in``, a slot or dates but not both) or by an opaque value (a forged ``cursor``);
  those refusals are 4xx by design and tested in test_bad_input.py;
- the bearer token is sent with every request; requests without one, or with a bad one, are
  tested in test_tenancy.py;
- unknown query parameters are ignored (a gateway may add its own), not refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from schemathesis.checks import positive_data_acceptance

from devstack.openapi import path_of
from devstack.platform import Platform

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))


def fuzz(service: str) -> Callable[..., None]:
    schema = schemathesis.openapi.from_path(path_of(service))
    schema.config.generation.update(
        max_examples=EXAMPLES,
        deterministic=os.environ.get("API_FUZZ_RANDOM") != "1",
        with_security_parameters=False,
        allow_extra_parameters=False,
    )

    @schema.parametrize()
    def test(case: schemathesis.Case, platform: Platform) -> None:
        case.call_and_validate(
            base_url=platform.url(service),
            # A tenant of its own: endpoints and data it makes touch no other test's.
            headers={"Authorization": f"Bearer {platform.token(tenant=f'fuzz-{service}')}"},
            excluded_checks=[positive_data_acceptance],
        )

    test.__doc__ = f"Every answer of the {service} API is documented and none is a 5xx."
    return test


test_booking_api = fuzz("booking")
test_inventory_api = fuzz("inventory")
test_pricing_api = fuzz("pricing")
test_payment_api = fuzz("payment")
test_notifier_api = fuzz("notifier")
