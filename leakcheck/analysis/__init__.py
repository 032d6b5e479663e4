"""Analysis: parse one module, collect its facts, walk each resource's paths, judge the leaks."""
