"""Where a worker keeps connector configs, source offsets and statuses: in memory or a file
(standalone), or in Kafka's three compacted topics with Apache Kafka's key/value layouts
(distributed), so a Java worker and ours read each other's state."""
