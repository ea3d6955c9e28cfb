"""Pure gamification logic: no Kafka, HTTP or SQL imports."""
