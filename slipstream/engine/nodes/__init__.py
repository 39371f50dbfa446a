"""The node kinds of the engine (task, dynamic, workflow, branch, map) behind one protocol."""
