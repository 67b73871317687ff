"""`tenor eval`: adapter + retrieval against either alone, measured on a question set."""
