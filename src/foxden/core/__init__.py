"""Pure domain rules: statuses and the one state machine."""
