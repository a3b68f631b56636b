"""A recurring campaign's schedule on the console: the form's "Repeat" choices (every day,
every week on chosen weekdays, every month on a day, at a time; or a cron expression typed
as it is) turned into the cron expression ``loyalty campaign create --cron`` and the API's
``cron`` take, and a stored expression read back in words ("Every Saturday at 10:00").

The form only builds the expression; ``campaigns.draft`` checks it as it checks the CLI's and
the API's, so there is one validation path. What is refused here is what the domain never sees:
a time that is not a time, a week with no day ticked, a day of the month that is not one.
Those refusals name the form's own field (``InvalidInput.field``).
"""
from __future__ import annotations

import re
from typing import Any

from babel.dates import get_day_names
from babel.lists import format_list
from werkzeug.datastructures import MultiDict

from rewards.errors import InvalidInput
from rewards.promotions import cron
from web.console import words
from web.console.words import _

# The form's weekday values, Monday first as the form lists them; cron's names for them.
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
REPEATS = ("daily", "weekly", "monthly", "cron")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::[0-9]{2})?")  # what <input type="time"> sends, seconds ignored
MAX_TIMES = 4  # more run times a day than this reads better as the expression itself


def weekday_names() -> dict[str, str]:
    """The form's weekday values and their names in the user's language (babel: 0 is Monday)."""
    names = get_day_names("wide", locale=words.current().locale)
    return {value: names[index] for index, value in enumerate(WEEKDAYS)}


def _time(form: MultiDict[str, str]) -> tuple[int, int]:
    text = form.get("repeat_time", "")[:20].strip()
    match = _TIME.fullmatch(text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        message = (_("Choose the time it goes out, like 10:00.") if not text
                   else _('"{time}" is not a time of day: write it like 10:00 (00:00 to 23:59).', time=text))
        raise InvalidInput(message, field="repeat_time")
    return int(match.group(1)), int(match.group(2))


def cron_of(form: MultiDict[str, str]) -> str:
    """The cron expression the "Repeat" part of the form gives; ``InvalidInput`` on the form's
    field (repeat_time, weekday, month_day, cron) when it gives none."""
    repeat = form.get("repeat", "weekly")
    if repeat == "cron":
        expression = form.get("cron", "")[:200].strip()
        if not expression:
            raise InvalidInput(_('Type a cron expression, like "0 10 * * SAT" (Saturdays at 10:00).'), field="cron")
        return expression  # checked by campaigns.draft, as the CLI's --cron
    if repeat not in REPEATS:
        raise InvalidInput(_("Choose how often it repeats."), field="repeat")
    hour, minute = _time(form)
    if repeat == "daily":
        return f"{minute} {hour} * * *"
    if repeat == "weekly":
        chosen = [day for day in WEEKDAYS if day in form.getlist("weekday")]
        if not chosen:
            raise InvalidInput(_("Tick at least one day of the week."), field="weekday")
        return f"{minute} {hour} * * {','.join(chosen)}"
    text = form.get("month_day", "")[:10].strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 31:
        raise InvalidInput(_("Choose a day of the month from 1 to 31."), field="month_day")
    return f"{minute} {hour} {int(text)} * *"


def in_words(expression: str | None) -> str | None:
    """A stored cron expression as a shop owner reads it ("Every Saturday at 10:00",
    "Cada sábado a las 10:00"), or None when it is not one (a one-off campaign). An expression
    the words do not cover (months, steps, many times a day) is shown as it is."""
    if not expression:
        return None
    try:
        parsed = cron.parse(expression)
    except InvalidInput:
        return _("On the schedule {cron}", cron=expression)
    locale = words.current().locale
    times = [f"{h:02d}:{m:02d}" for h in parsed.hours for m in parsed.minutes]
    if len(times) > MAX_TIMES or len(parsed.months) != 12:
        return _("On the schedule {cron}", cron=parsed.expression)
    at = format_list(times, locale=locale)
    if parsed.any_day and parsed.any_weekday:
        return _("Every day at {time}", time=at)
    if parsed.any_day:  # weekdays only; cron counts 0 as Sunday, babel 0 as Monday
        names = get_day_names("wide", locale=locale)
        days = [names[(d - 1) % 7] for d in sorted(parsed.weekdays, key=lambda d: (d - 1) % 7)]
        return _("Every {days} at {time}", days=format_list(days, locale=locale), time=at)
    if parsed.any_weekday:
        days_of_month = [str(d) for d in sorted(parsed.days)]
        return words.ngettext("Every month on day {days} at {time}", "Every month on days {days} at {time}",
                              len(days_of_month), days=format_list(days_of_month, locale=locale), time=at)
    return _("On the schedule {cron}", cron=parsed.expression)


def schedule_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """What the form's "When" gives ``campaigns.draft``: exactly one of send_at, cron_expression
    or send_now, as the CLI's --at, --cron and --now."""
    when = form.get("when", "now")
    if when == "repeat":
        return {"cron_expression": cron_of(form)}
    if when == "at":
        return {"send_at": form.get("send_at", "")[:2000].strip() or None}
    return {"send_now": True}
