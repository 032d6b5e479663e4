"""The runtime gate (`pytest --leakcheck`): a pytest plugin that fails the test which leaks a
pooled connection and names where it was taken, joined with what the static analysis says there.

`plugin` holds the pytest hooks, `recorders/` one module per library (what counts as a checkout
and a return), `ledger` the record of checkouts, `frames` the cheap stack capture, `static` the
join with the analysis and `report` the failure text. Nothing here runs unless the gate is on.
"""
