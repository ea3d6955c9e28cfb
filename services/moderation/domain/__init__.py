"""Pure moderation logic: no Kafka, HTTP or SQL imports."""
