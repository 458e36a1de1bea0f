"""Redis adapters: the view with its all-or-nothing step, and the name keys."""
