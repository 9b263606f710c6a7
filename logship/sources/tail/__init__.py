"""Following log files: discovery, identity, reading, multiline grouping and positions."""
