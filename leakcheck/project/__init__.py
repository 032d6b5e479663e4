"""The project: discovery, names across modules, suppressions, baseline, the run over many
files."""
