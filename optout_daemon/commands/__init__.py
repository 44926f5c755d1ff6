"""The command-line commands; each module registers its own sub-commands."""
