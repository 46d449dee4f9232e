"""The booking service's use cases: one module per command it accepts.

Each takes its own command (a dataclass, never an HTTP schema) and does its work through a
:class:`~booking.usecases.unit_of_work.UnitOfWork`, one transaction that commits or rolls back
as a whole. Routes, message handlers and timers parse their input, call a use case and map its
result; the rules of the business live here and in ``booking.domain``.
"""
