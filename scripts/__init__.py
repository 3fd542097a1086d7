"""Hearth's command-line tools: seeding catalogues, development secrets, benchmarks."""
