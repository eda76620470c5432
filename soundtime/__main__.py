"""``python -m soundtime`` runs the command line."""

from soundtime.cli import main

if __name__ == "__main__":
    main()
