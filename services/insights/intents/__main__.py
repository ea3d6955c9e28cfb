"""`python -m services.insights.intents`: retrain the intent classifier and write model.json."""

from __future__ import annotations

import json

from services.insights.intents import ARTIFACT, train_model

if __name__ == "__main__":
    model = train_model()
    ARTIFACT.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
    print(f"wrote {ARTIFACT} ({len(model.labels)} intents)")
