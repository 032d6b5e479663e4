"""A small clinic-booking service (FastAPI + psycopg2, with SQLAlchemy for reporting), written the
way real services are, with the leaks leakcheck exists for. Run `leakcheck check examples/`.

Each leaking line ends with `# expect: LCxxx` (the test suite checks the exact set); every other
line is correct code that must stay silent.
"""
