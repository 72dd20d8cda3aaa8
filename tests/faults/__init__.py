"""Fault injection: kill -9 loops under load, on-disk damage, frame fuzzing and request
amplification against real broker processes (ours, and Apache Kafka where the same test
applies). Bounded by default (CI); SCHEMABUS_FAULTS_LONG=1 scales cycles and durations
(bench/faults.py runs that and prints the figures)."""
