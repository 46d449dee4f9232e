"""Shared messaging runtime: envelope, outbox, relay, inbox, consumer runner and DLQ.

Written once and used by every service; services never talk to a Kafka producer directly.
"""
