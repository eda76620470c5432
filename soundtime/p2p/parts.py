"""What a federation part is given: the ports most of them share (the database, the node's identity and policy,
its job runner, the messenger and the blocklist), bundled so that the composition root hands them over in one."""

from __future__ import annotations

from dataclasses import dataclass

from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blocklist, Messenger, OwnNode


@dataclass(frozen=True)
class Ports:
    """The shared ports of one node."""

    db: Database
    own: OwnNode
    policy: Policy
    jobs: JobRunner
    messenger: Messenger
    blocklist: Blocklist


class Part:
    """A part of the node: keeps the shared ports as private attributes."""

    def __init__(self, ports: Ports) -> None:
        self._db = ports.db
        self._own = ports.own
        self._policy = ports.policy
        self._jobs = ports.jobs
        self._messenger = ports.messenger
        self._blocklist = ports.blocklist
