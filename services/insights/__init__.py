"""Insights: Feedback clustered by meaning, labelled and routed; monthly retrospectives."""
