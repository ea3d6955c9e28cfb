"""`python -m services.insights.sentiment`: retrain the sentiment head and write model.json."""

from __future__ import annotations

import json

from services.insights.sentiment import ARTIFACT, train_model

if __name__ == "__main__":
    model = train_model()
    ARTIFACT.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
    print(f"wrote {ARTIFACT} ({len(model.labels)} sentiments)")
