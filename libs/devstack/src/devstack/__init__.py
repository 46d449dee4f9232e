"""Local infrastructure, started by the project itself: a real Kafka broker (KRaft, jars from
Maven Central, run with the machine's Java) and an embedded Postgres (PyPI wheel), plus the
supervisor that runs all five services as real processes for ``make run``, the tests and the
benchmark. Never imported by a service.
"""
