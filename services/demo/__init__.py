"""`hearth demo`: a bundled sample community replayed through the embedded platform."""
