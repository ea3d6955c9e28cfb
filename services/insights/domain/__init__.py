"""Pure insights logic: no Kafka, HTTP or SQL imports."""
