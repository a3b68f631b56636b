"""A small world for the clock's jobs: members who joined on the terminal, the program file
changed as an operator would, purchases, and what the outbox holds. Every step commits in
a transaction of its own (the jobs open their own), so no session is left open meanwhile."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support import T0

from rewards import earning, members
from rewards.models import Member, OutboxMessage, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of, sync_program
from scheduler import jobs

CHANNELS = ("terminal",)


class World:
    def __init__(self, sessions: sessionmaker[Session], program: Program, config: ProgramConfig) -> None:
        self.sessions, self.program_id, self.config = sessions, program.id, config
        self.phones = itertools.count(1)

    def configure(self, **sections: dict[str, Any]) -> ProgramConfig:
        """``configure(automations={"win_back_days": 30}, expiry={...})``: the file, changed and reloaded."""
        self.config = replace(self.config, **{name: replace(getattr(self.config, name), **values)
                                              for name, values in sections.items()})
        with self.sessions.begin() as session:
            sync_program(session, self.config, T0)
        return self.config

    def join(self, now: datetime = T0, *, birthday: date | None = None, language: str = "en",
             phone: str | None = None) -> int:
        phone = phone or f"+1555020{next(self.phones):04d}"
        with self.sessions.begin() as session:
            program = session.get(Program, self.program_id)
            identity = members.get_identity(session, self.program_id, "terminal", phone, now)
            member = members.join(session, program, config_of(program), identity, now, phone=phone, language=language).member
            member.birthday = birthday
            return member.id

    def purchase(self, member_id: int, amount: str, receipt: str, now: datetime) -> int:
        with self.sessions.begin() as session:
            program = session.get(Program, self.program_id)
            member = session.get(Member, member_id)
            return earning.record_purchase(session, program, config_of(program), member, amount, receipt, now).points

    def member(self, member_id: int) -> Member:
        with self.sessions() as session:
            member = session.get(Member, member_id)
            assert member is not None
            session.expunge(member)
            return member

    def messages(self, prefix: str = "") -> list[tuple[str, str]]:
        """(dedupe key, text) of the clock's notices, oldest first; ``prefix`` picks a kind."""
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxMessage.dedupe_key, OutboxMessage.payload)
                .where(OutboxMessage.dedupe_key.is_not(None), OutboxMessage.dedupe_key.startswith(prefix))
                .order_by(OutboxMessage.id)
            )
            return [(key, payload["text"]) for key, payload in rows]

    def run(self, job: Any, now: datetime) -> jobs.JobResult:
        return job(self.sessions, self.program_id, now, CHANNELS, chunk=2)  # small chunks: several transactions


@pytest.fixture
def world(sessions: sessionmaker[Session], program: Program, demo_config: ProgramConfig) -> World:
    return World(sessions, program, demo_config)
