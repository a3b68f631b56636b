"""A refusal names its field in a structured way, so a surface words it with its own name
for the field (the API's ``offer.ends_at``, say) without rewriting the message's text."""
from __future__ import annotations

import pytest

from rewards.errors import InvalidInput
from rewards.localtime import parse_local


def test_a_wrong_time_carries_its_field_and_the_problem_apart() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_local("soon", "Europe/Madrid", what="offer_until")
    error = caught.value
    assert (error.field, error.problem) == ("offer_until", ' "soon" is not a date and time: write it like 2026-12-05 10:00')
    assert str(error) == 'offer_until "soon" is not a date and time: write it like 2026-12-05 10:00'
    assert error.naming({"offer_until": "offer.ends_at"}) == \
        'offer.ends_at "soon" is not a date and time: write it like 2026-12-05 10:00'
    assert error.naming({"send_at": "--at"}) == str(error)  # another field's name changes nothing
