"""Pure ingest logic: no Kafka, HTTP or SQL imports."""
