"""The tool the model drives: the stateful code editor, its rendering, the sandbox."""
