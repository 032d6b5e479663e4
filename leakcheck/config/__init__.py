"""Configuration: the rule catalogue and resource kinds (`rules/`), `[tool.leakcheck]`,
selection."""
