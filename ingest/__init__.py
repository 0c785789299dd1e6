"""Kafka ingest: live `mochat.v1.Frame` streams -> sliding windows -> encoder -> features.

- `windowing`, `validation`, `offsets`: pure code (no Kafka), unit-tested without a broker.
- `service`: the consumer-group worker (`mochat serve ingest`, `python -m ingest`).
- `replay`: motion files as live streams (`mochat replay`).
- `broker`: the local Tansu broker for tests and demos (`mochat broker`).
No torch here: the encoder is a gRPC service.
"""
