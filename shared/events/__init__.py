"""Event contracts: the CloudEvents envelope, payload models and the topic registry."""

from shared.events.envelope import Envelope, new_event_id
from shared.events.topics import TOPICS, Topic, topic_for_type

__all__ = ["TOPICS", "Envelope", "Topic", "new_event_id", "topic_for_type"]
