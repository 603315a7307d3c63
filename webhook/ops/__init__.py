"""What operators run: the command line, ``serve``, the actions on a case, the demo."""
