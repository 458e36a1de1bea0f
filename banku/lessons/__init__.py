"""Thin helpers for the notebooks: a clean namespace per notebook, sentences instead of
tracebacks, projector processes to kill, pictures. The lessons show the mechanism with the real
clients; these only spare them the plumbing.
"""
