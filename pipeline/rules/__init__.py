"""Compliance rules: a versioned rule catalogue (data), knowledge tables (data) and the checks,
one module per family, that evaluate them over one record's view (or, for cross-record rules,
over all stays)."""
