"""Text ops: normalization, length, language id, heuristic quality rules, PII."""
