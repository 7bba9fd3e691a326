"""The `distpos` command line (click). Commands stay thin: parse, call, print."""
