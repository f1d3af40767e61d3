"""``python -m passages`` runs the command line (through the warm daemon when one runs)."""

from passages._launch import main

main()
