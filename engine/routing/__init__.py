"""South → North routing: which Norths receive a content, per their ``transformers[]`` (iso/ignore)."""
