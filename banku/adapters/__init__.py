"""The ports on real servers (`kafka`, `redis`) and in memory (`memory`, for the unit tests and
the contract suite that proves the two behave alike)."""
