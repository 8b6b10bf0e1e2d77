"""Compliance rules: a versioned rule catalogue (data), knowledge tables (data) and a few engine
kinds that evaluate them over one record's view (or, for cross-record rules, over all stays)."""
