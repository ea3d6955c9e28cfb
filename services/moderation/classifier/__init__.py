"""Offline English/Russian classifiers: toxicity, insult, threat, profanity, sexual, spam.

Trained by `python -m services.moderation.classifier train` from the corpus under
`data/`; the runtime (`model.py`) needs numpy only."""
