"""Clinical NLP: entity recognition, ConText attributes and ICD normalization."""
