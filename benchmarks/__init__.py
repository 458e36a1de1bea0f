"""Benchmarks of the kit against the real stack: `python -m benchmarks [--quick]`.

Each module measures one thing and returns a `benchmarks.common.Result`; `__main__` runs them,
prints the table and writes the JSON. See the README's "Performance" section.
"""
