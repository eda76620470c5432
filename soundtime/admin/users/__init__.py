"""Users administration: list, create, change role, disable and enable, reset passwords."""
