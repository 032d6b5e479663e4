"""Reports: text, JSON, GitHub annotations, SARIF and rule documentation."""
