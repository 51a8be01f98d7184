"""A small domain for the repository and snapshot tests: bank accounts."""

from __future__ import annotations

from dataclasses import dataclass

import strom.es as es


@dataclass
class Opened:
    owner: str


@dataclass
class Deposited:
    amount: int


@dataclass
class Withdrawn:
    amount: int


@dataclass
class Frozen:
    reason: str


Event = Opened | Deposited | Withdrawn | Frozen


class Account(es.Aggregate[Event]):
    owner: str
    balance: int
    frozen: bool
    movements: list[int]

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance = 0
        self.frozen = False
        self.movements = []

    def apply(self, event: Event) -> None:
        match event:
            case Opened(owner):
                self.owner = owner
            case Deposited(amount):
                self.balance += amount
                self.movements.append(amount)
            case Withdrawn(amount):
                self.balance -= amount
                self.movements.append(-amount)
            case Frozen():
                self.frozen = True

    # commands
    def open(self, owner: str) -> list[Event]:
        if self.version:
            raise ValueError(f"account {self.id} is already open")
        return self.record(Opened(owner))

    def deposit(self, amount: int) -> list[Event]:
        if amount <= 0:
            raise ValueError("deposit must be positive")
        return self.record(Deposited(amount))

    def withdraw(self, amount: int) -> list[Event]:
        if self.frozen or amount > self.balance:
            raise ValueError("refused")
        return self.record(Withdrawn(amount))

    def freeze(self, reason: str) -> list[Event]:
        return self.record(Frozen(reason))

    def state(self) -> tuple[int, str, int, bool, list[int]]:
        return (self.version, self.owner, self.balance, self.frozen, list(self.movements))


def registry() -> es.EventRegistry:
    reg = es.EventRegistry()
    for cls in (Opened, Deposited, Withdrawn, Frozen):
        reg.register(cls)
    return reg
